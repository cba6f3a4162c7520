package prices

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"github.com/orgbase/orgbase/internal/orgbase"
)

// Model is the price list: one group per category that has prices.
type Model struct {
	Groups []Group
}

// Group is one category's tools.
type Group struct {
	Category orgbase.Category
	Tools    []Tool
	Decimals int // the most decimals any of its prices has, so decimal points line up
}

// Tool is one tool's prices, cheapest first.
type Tool struct {
	Name   string // "image.generate", as the API names it
	Label  string // "Image generation"
	Prices []orgbase.Price
}

// Build groups the catalog (ordered by category, tool and price) by category
// in page order (orgbase.Categories), and within each by tool label.
func Build(catalog []orgbase.Price) Model {
	var m Model
	for _, cat := range orgbase.Categories {
		g := Group{Category: cat}
		for _, p := range catalog {
			if p.Category != cat {
				continue
			}
			if n := len(g.Tools); n == 0 || g.Tools[n-1].Name != p.Tool {
				g.Tools = append(g.Tools, Tool{Name: p.Tool, Label: orgbase.ToolLabel(p.Tool)})
			}
			t := &g.Tools[len(g.Tools)-1]
			t.Prices = append(t.Prices, p)
			_, frac := splitPrice(p.CreditsPerUnit)
			g.Decimals = max(g.Decimals, len(frac))
		}
		if len(g.Tools) == 0 {
			continue
		}
		slices.SortStableFunc(g.Tools, func(a, b Tool) int { return cmp.Compare(a.Label, b.Label) })
		m.Groups = append(m.Groups, g)
	}
	return m
}

// Count is how many prices the model lists.
func (m Model) Count() int {
	n := 0
	for _, g := range m.Groups {
		for _, t := range g.Tools {
			n += len(t.Prices)
		}
	}
	return n
}

// splitPrice splits a price as people read it into its whole part and its
// decimals: "48.75" is "48" and "75", "1,200" is "1,200" and "".
func splitPrice(c orgbase.Credits) (whole, frac string) {
	whole, frac, _ = strings.Cut(c.String(), ".")
	return whole, frac
}

// categoryHint says what a category covers.
func categoryHint(c orgbase.Category) string {
	switch c {
	case orgbase.CategoryImageSpeech:
		return "Images, image edits, video, speech and music."
	case orgbase.CategoryChatbot:
		return "Chat, knowledge bases and reasoning tools."
	}
	return ""
}

// unitLabel writes a unit's leading count with thousands separators:
// "1000 words" reads "1,000 words".
func unitLabel(u string) string {
	num, rest, ok := strings.Cut(u, " ")
	if n, err := strconv.ParseUint(num, 10, 64); !ok || err != nil || n < 1000 || num[0] == '0' {
		return u
	}
	var b strings.Builder
	for i, r := range num {
		if i > 0 && (len(num)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String() + " " + rest
}
