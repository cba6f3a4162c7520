package devmail

import "regexp"

var linkRE = regexp.MustCompile(`https?://[^\s<>"]+`)

// Links returns the URLs in an email's plain-text part, in order.
func Links(text string) []string { return linkRE.FindAllString(text, 20) }
