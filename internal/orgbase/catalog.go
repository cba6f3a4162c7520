package orgbase

import "time"

// Category groups tools in reports (SPEC §5.6).
type Category string

// The two categories.
const (
	CategoryImageSpeech Category = "image_speech" // images, image edits, video, speech, music
	CategoryChatbot     Category = "chatbot"      // chat, knowledge base, reasoning tools
)

// Categories lists every category in the order pages show them.
var Categories = []Category{CategoryImageSpeech, CategoryChatbot}

// Valid reports whether c is one of the categories.
func (c Category) Valid() bool { return c == CategoryImageSpeech || c == CategoryChatbot }

// Label is the category as people read it.
func (c Category) Label() string {
	switch c {
	case CategoryImageSpeech:
		return "Image & Speech"
	case CategoryChatbot:
		return "Chatbot"
	}
	return string(c)
}

// Price is one entry of the operator's price catalog: what one unit of a
// tool with a model costs. The catalog is global, not per organization.
type Price struct {
	ID             int64
	Tool           string // "chat.completion", "image.generate", …
	Model          string // "gpt-4.1", "flux-dev", "default", …
	Unit           string // what one unit of a usage event means: "1000 words", "image", …
	CreditsPerUnit Credits
	Category       Category
	Source         string // where the price comes from: "published rate", "assumed", …
	Active         bool
	UpdatedAt      time.Time
}

// toolLabels names the tools of the default catalog as people read them.
var toolLabels = map[string]string{
	"chat.completion":          "Chat",
	"image.generate":           "Image generation",
	"image.upscale":            "Image upscaling",
	"image.background_removal": "Background removal",
	"image.inpaint":            "Image editing",
	"video.generate":           "Video generation",
	"speech.generate":          "Text to speech",
	"speech.transcribe_file":   "Transcription",
	"music.generate":           "Music generation",
	"kb.upload":                "Knowledge base upload",
}

// ToolLabel is a tool as people read it ("Image generation" for
// "image.generate"); a tool without a label reads as its name.
func ToolLabel(tool string) string {
	if l, ok := toolLabels[tool]; ok {
		return l
	}
	return tool
}
