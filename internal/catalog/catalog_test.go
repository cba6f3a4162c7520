package catalog

import (
	"strings"
	"testing"

	"github.com/orgbase/orgbase/internal/orgbase"
)

func TestDefault(t *testing.T) {
	entries, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < 20 {
		t.Fatalf("default catalog has %d prices, want the whole file", len(entries))
	}
	byKey := map[string]Entry{}
	cats := map[orgbase.Category]int{}
	for _, e := range entries {
		byKey[e.Tool+" "+e.Model] = e
		cats[e.Category]++
	}
	// Exact milli-credits, straight from the decimal text.
	want := map[string]orgbase.Credits{
		"chat.completion gpt-4.1-nano":     120,
		"chat.completion gpt-4.5":          48_750,
		"chat.completion gemini-2.5-pro":   6_500,
		"image.generate imagegen-fast":     3 * orgbase.Credit,
		"image.generate nano-banana-pro":   49 * orgbase.Credit,
		"video.generate standard-1080p-8s": 800 * orgbase.Credit,
		"kb.upload default":                500,
	}
	for k, c := range want {
		if got := byKey[k].CreditsPerUnit; got != c {
			t.Errorf("%s costs %d milli-credits, want %d", k, got, c)
		}
	}
	if e := byKey["chat.completion o4-mini"]; e.Unit != "1000 words" || e.Category != orgbase.CategoryChatbot || e.Source != "published rate" {
		t.Errorf("o4-mini = %+v", e)
	}
	if e := byKey["music.generate default"]; e.Category != orgbase.CategoryImageSpeech || e.Source != "assumed" {
		t.Errorf("music = %+v", e)
	}
	if cats[orgbase.CategoryChatbot] == 0 || cats[orgbase.CategoryImageSpeech] == 0 {
		t.Errorf("categories: %v", cats)
	}
}

const head = "tool,model,unit,credits_per_unit,category,source\n"

func TestParse(t *testing.T) {
	got, err := Parse(strings.NewReader("\ufeff" + head +
		"chat.completion,m1,1000 words,0.001,chatbot,assumed\n" +
		" image.generate , m2 ,image,\"1,234.5\",image_speech,\n" +
		"x,m3,unit,7.10,chatbot,published rate\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{
		{"chat.completion", "m1", "1000 words", 1, orgbase.CategoryChatbot, "assumed"},
		{"image.generate", "m2", "image", 1_234_500, orgbase.CategoryImageSpeech, ""},
		{"x", "m3", "unit", 7_100, orgbase.CategoryChatbot, "published rate"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d entries: %+v", len(got), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestParseRefusesBadRows(t *testing.T) {
	bad := map[string]string{
		"empty file":        "",
		"header only":       head,
		"wrong header":      "tool,model,unit,price,category,source\nt,m,u,1,chatbot,x\n",
		"missing column":    head + "t,m,u,1,chatbot\n",
		"extra column":      head + "t,m,u,1,chatbot,x,y\n",
		"empty tool":        head + ",m,u,1,chatbot,x\n",
		"blank model":       head + "t,  ,u,1,chatbot,x\n",
		"empty unit":        head + "t,m,,1,chatbot,x\n",
		"unknown category":  head + "t,m,u,1,video,x\n",
		"label as category": head + "t,m,u,1,Chatbot,x\n",
		"zero price":        head + "t,m,u,0,chatbot,x\n",
		"zero decimals":     head + "t,m,u,0.000,chatbot,x\n",
		"negative price":    head + "t,m,u,-1,chatbot,x\n",
		"four decimals":     head + "t,m,u,0.1234,chatbot,x\n",
		"float exponent":    head + "t,m,u,1e3,chatbot,x\n",
		"not a number":      head + "t,m,u,NaN,chatbot,x\n",
		"empty price":       head + "t,m,u,,chatbot,x\n",
		"huge price":        head + "t,m,u,99999999999999999999,chatbot,x\n",
		"duplicate":         head + "t,m,u,1,chatbot,x\nt,m,v,2,chatbot,x\n",
		"too long":          head + "t," + strings.Repeat("m", MaxFieldLen+1) + ",u,1,chatbot,x\n",
		"invalid utf-8":     head + "t,m\xff,u,1,chatbot,x\n",
		"bad quoting":       head + "t,\"m,u,1,chatbot,x\n",
	}
	for name, in := range bad {
		if got, err := Parse(strings.NewReader(in)); err == nil {
			t.Errorf("%s: accepted %+v", name, got)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	// The error names the line a person has to fix.
	_, err := Parse(strings.NewReader(head + "t,m,u,1,chatbot,x\nt,m2,u,0.5,chatbot,x\nt,m3,u,abc,chatbot,x\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "line 4:") {
		t.Errorf("error = %v, want it to name line 4", err)
	}
}
