package web_test

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/orgbase/orgbase/internal/orgbase"
)

func orgForm(name, slug string) url.Values {
	return url.Values{"name": {name}, "slug": {slug}}
}

// pngImage encodes a w×h PNG; noisy images do not compress, so they are large.
func pngImage(t *testing.T, w, h int, noisy bool) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(1, 2))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.NRGBA{R: uint8(x * 40), G: uint8(y * 40), B: 200, A: 255}
			if noisy {
				c = color.NRGBA{R: uint8(rng.Uint32()), G: uint8(rng.Uint32()), B: uint8(rng.Uint32()), A: 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// switcherSlugs lists the organizations linked from the org switcher.
func switcherSlugs(r *resp) []string {
	var out []string
	r.find(`[data-testid="org-switcher-item"]`).Each(func(_ int, s *goquery.Selection) {
		out = append(out, strings.TrimPrefix(s.AttrOr("href", ""), "/orgs/"))
	})
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestCreateOrg(t *testing.T) {
	t.Run("SuccessMakesCreatorOwnerAndShowsOverview", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			c := e.newUser(t, "Olga", "olga@example.com")
			c.get("/orgs/new").wantElement(`form[data-testid="new-org-form"]`)
			f := orgForm("Acme Rockets", "acme")
			f.Set("company_size", "11-50")
			f.Set("creator_function", "Engineering")
			c.post("/orgs/new", f).wantRedirect("/orgs/acme")

			r := c.get("/orgs/acme")
			r.wantStatus(http.StatusOK)
			if got := r.text("main h1"); got != "Overview" {
				t.Errorf("overview heading: got %q, want %q", got, "Overview")
			}
			if got := r.text("main h1 + p"); got != "Acme Rockets" {
				t.Errorf("overview subtitle: got %q, want %q", got, "Acme Rockets")
			}
			if got := r.text(`[data-testid="stat-Your role"]`); got != "Owner" {
				t.Errorf("role card: got %q, want Owner", got)
			}
			if got := r.text(`[data-testid="stat-Members"]`); got != "1" {
				t.Errorf("members card: got %q, want 1", got)
			}
			if got := r.text(`[data-testid="toast"]`); !strings.Contains(got, "You are its owner") {
				t.Errorf("flash: got %q, want it to say the creator is owner", got)
			}
			r.wantElement(`[data-testid="nav-settings"]`)
			if !contains(switcherSlugs(r), "acme") {
				t.Errorf("switcher: got %v, want it to list acme", switcherSlugs(r))
			}

			o, m, err := e.db.FindOrgForMember(t.Context(), "acme", e.user(t, "olga@example.com").ID)
			if err != nil {
				t.Fatal(err)
			}
			if m.Role != orgbase.RoleOwner || o.CompanySize != "11-50" || o.CreatorFunction != "Engineering" || o.BillingEmail != "olga@example.com" {
				t.Errorf("stored: got role %q size %q function %q billing %q, want owner 11-50 Engineering olga@example.com", m.Role, o.CompanySize, o.CreatorFunction, o.BillingEmail)
			}
			if ws, err := e.db.FindPrimaryWorkspace(t.Context(), o.ID); err != nil || ws.Name != orgbase.PrimaryWorkspaceName {
				t.Errorf("primary workspace: got %+v, %v; want one named %q", ws, err, orgbase.PrimaryWorkspaceName)
			}
			c.get("/").wantRedirect("/orgs/acme")
		})
	})

	t.Run("EmptyNameIs422", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			c := e.newUser(t, "Olga", "olga@example.com")
			r := c.post("/orgs/new", orgForm("   ", ""))
			r.wantStatus(http.StatusUnprocessableEntity)
			r.wantFieldErrors("name")
		})
	})

	t.Run("InvalidSlugIs422", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			c := e.newUser(t, "Olga", "olga@example.com")
			for _, slug := range []string{"Bad Slug", "ab", "-acme", "acme-", "ac--me", "new", "ACME", "acmé", strings.Repeat("a", 41), "a/b"} {
				t.Run(slug, func(t *testing.T) {
					c := c.in(t)
					r := c.post("/orgs/new", orgForm("Acme", slug))
					r.wantStatus(http.StatusUnprocessableEntity)
					r.wantFieldErrors("slug")
					r.wantNoFieldError("name")
					if got := r.inputValue("slug"); got != slug {
						t.Errorf("slug input: got %q, want the typed %q kept", got, slug)
					}
				})
			}
		})
	})

	t.Run("InvalidSelectsAre422", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			c := e.newUser(t, "Olga", "olga@example.com")
			f := orgForm("Acme", "acme")
			f.Set("company_size", "a million")
			f.Set("creator_function", "Wizard")
			r := c.post("/orgs/new", f)
			r.wantStatus(http.StatusUnprocessableEntity)
			r.wantFieldErrors("company_size", "creator_function")
		})
	})

	t.Run("TakenSlugIs422OnSlug", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			e.newUser(t, "Olga", "olga@example.com").createOrg("Acme", "acme")
			c := e.newUser(t, "Bob", "bob@example.com")
			r := c.post("/orgs/new", orgForm("Bob's Acme", "acme"))
			r.wantStatus(http.StatusUnprocessableEntity)
			r.wantFieldErrors("slug")
			r.wantNoFieldError("name")
			if got := r.inputValue("name"); got != "Bob's Acme" {
				t.Errorf("name input: got %q, want the typed name kept", got)
			}
		})
	})

	t.Run("EmptySlugIsDerivedFromName", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			c := e.newUser(t, "Olga", "olga@example.com")
			if got := c.createOrg("Café Crème & Co.", ""); got != "cafe-creme-co" {
				t.Errorf("derived slug: got %q, want %q", got, "cafe-creme-co")
			}
			if got := c.createOrg("Café Crème & Co.", ""); got != "cafe-creme-co-2" {
				t.Errorf("derived slug when taken: got %q, want %q", got, "cafe-creme-co-2")
			}
			r := c.post("/orgs/new", orgForm("!!!", ""))
			r.wantStatus(http.StatusUnprocessableEntity)
			r.wantFieldErrors("slug")
		})
	})

	t.Run("DerivedNumberedSlugIsValid", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			c := e.newUser(t, "Olga", "olga@example.com")
			name := strings.Repeat("a", 37) + " bb" // derives "aaa…a-bb", 40 characters
			c.createOrg(name, "")
			slug := c.createOrg(name, "")
			if err := orgbase.CheckSlug(slug); err != nil {
				t.Errorf("numbered derived slug %q: got CheckSlug error %v, want a valid slug", slug, err)
			}
			c.post("/orgs/"+slug+"/settings", orgForm(name, slug)).wantRedirect("/orgs/" + slug + "/settings")
		})
	})
}

func TestOrgAccess(t *testing.T) {
	t.Run("UnknownSlugIs404", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			c := e.newUser(t, "Olga", "olga@example.com")
			for _, p := range []string{"/orgs/nope", "/orgs/nope/settings", "/orgs/nope/logo"} {
				r := c.get(p)
				r.wantStatus(http.StatusNotFound)
				r.wantElement(`[data-testid="error-page"]`)
			}
		})
	})

	t.Run("AnotherUsersOrgIs404Not403", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			e.newUser(t, "Olga", "olga@example.com").createOrg("Acme", "acme")
			bob := e.newUser(t, "Bob", "bob@example.com")
			bob.get("/orgs/acme").wantStatus(http.StatusNotFound)
			bob.get("/orgs/acme/settings").wantStatus(http.StatusNotFound)
			bob.get("/orgs/acme/logo").wantStatus(http.StatusNotFound)
			bob.post("/orgs/acme/settings", orgForm("Hacked", "acme")).wantStatus(http.StatusNotFound)
			bob.post("/orgs/acme/delete", url.Values{"confirm": {"Acme"}}).wantStatus(http.StatusNotFound)
			bob.post("/orgs/acme/restore", nil).wantStatus(http.StatusNotFound)
			bob.upload("/orgs/acme/settings/logo", "logo", "logo.png", "image/png", pngImage(t, 4, 4, false)).wantStatus(http.StatusNotFound)
			o := e.org(t, "acme", "olga@example.com")
			if o.Name != "Acme" || o.Deleted() || o.LogoType != "" {
				t.Errorf("org after outsider requests: got name %q deleted %v logo %q, want unchanged", o.Name, o.Deleted(), o.LogoType)
			}
		})
	})

	t.Run("MemberCannotOpenSettings", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			e.newUser(t, "Olga", "olga@example.com").createOrg("Acme", "acme")
			mem := e.newUser(t, "Mia", "mia@example.com")
			e.addMember(t, e.org(t, "acme", "olga@example.com").ID, e.user(t, "mia@example.com").ID, orgbase.RoleMember)

			r := mem.get("/orgs/acme")
			r.wantStatus(http.StatusOK)
			if got := r.text(`[data-testid="stat-Your role"]`); got != "Member" {
				t.Errorf("role card: got %q, want Member", got)
			}
			r.wantNoElement(`[data-testid="nav-settings"]`)
			mem.get("/orgs/acme/settings").wantStatus(http.StatusForbidden)
			mem.post("/orgs/acme/settings", orgForm("Hacked", "acme")).wantStatus(http.StatusForbidden)
			mem.upload("/orgs/acme/settings/logo", "logo", "logo.png", "image/png", pngImage(t, 4, 4, false)).wantStatus(http.StatusForbidden)
			mem.post("/orgs/acme/delete", url.Values{"confirm": {"Acme"}}).wantStatus(http.StatusForbidden)
			if got := e.org(t, "acme", "olga@example.com").Name; got != "Acme" {
				t.Errorf("org name: got %q, want unchanged", got)
			}
		})
	})

	t.Run("AdminEditsProfileButCannotDelete", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			e.newUser(t, "Olga", "olga@example.com").createOrg("Acme", "acme")
			adm := e.newUser(t, "Adam", "adam@example.com")
			e.addMember(t, e.org(t, "acme", "olga@example.com").ID, e.user(t, "adam@example.com").ID, orgbase.RoleAdmin)
			r := adm.get("/orgs/acme/settings")
			r.wantStatus(http.StatusOK)
			r.wantNoElement(`[data-testid="danger-zone"]`)
			adm.post("/orgs/acme/delete", url.Values{"confirm": {"Acme"}}).wantStatus(http.StatusForbidden)
		})
	})
}

func TestOrgSettings(t *testing.T) {
	t.Run("ValidationErrorsKeepInput", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			c := e.newUser(t, "Olga", "olga@example.com")
			c.createOrg("Acme", "acme")
			f := url.Values{"name": {""}, "slug": {"Bad Slug"}, "billing_email": {"billing@"}}
			r := c.post("/orgs/acme/settings", f)
			r.wantStatus(http.StatusUnprocessableEntity)
			r.wantFieldErrors("name", "slug", "billing_email")
			if got := r.inputValue("slug"); got != "Bad Slug" {
				t.Errorf("slug input: got %q, want %q kept", got, "Bad Slug")
			}
			if got := r.inputValue("billing_email"); got != "billing@" {
				t.Errorf("billing email input: got %q, want %q kept", got, "billing@")
			}
			if got := e.org(t, "acme", "olga@example.com").Name; got != "Acme" {
				t.Errorf("stored name: got %q, want unchanged", got)
			}
		})
	})

	t.Run("TakenSlugIs422", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			c := e.newUser(t, "Olga", "olga@example.com")
			c.createOrg("Acme", "acme")
			c.createOrg("Beta", "beta")
			r := c.post("/orgs/acme/settings", orgForm("Acme", "beta"))
			r.wantStatus(http.StatusUnprocessableEntity)
			r.wantFieldErrors("slug")
			if got := r.inputValue("slug"); got != "beta" {
				t.Errorf("slug input: got %q, want %q kept", got, "beta")
			}
		})
	})

	t.Run("SuccessRedirectsToNewSlug", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			c := e.newUser(t, "Olga", "olga@example.com")
			c.createOrg("Acme", "acme")
			f := url.Values{"name": {"Acme Labs"}, "slug": {"acme-labs"}, "billing_email": {"Billing@Acme.example"}, "company_size": {"2-10"}}
			c.post("/orgs/acme/settings", f).wantRedirect("/orgs/acme-labs/settings")
			r := c.get("/orgs/acme-labs/settings")
			r.wantStatus(http.StatusOK)
			if got := r.inputValue("name"); got != "Acme Labs" {
				t.Errorf("name input: got %q, want %q", got, "Acme Labs")
			}
			if got := r.inputValue("billing_email"); got != "billing@acme.example" {
				t.Errorf("billing email input: got %q, want %q", got, "billing@acme.example")
			}
			if got := r.attr(`select[name="company_size"] option[selected]`, "value"); got != "2-10" {
				t.Errorf("company size: got %q, want 2-10", got)
			}
			c.get("/orgs/acme").wantStatus(http.StatusNotFound)
		})
	})

	t.Run("HtmxUpdateReturnsOnlyTheCard", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			c := e.newUser(t, "Olga", "olga@example.com")
			c.createOrg("Acme", "acme")
			c.get("/orgs/acme/settings").wantStatus(http.StatusOK)
			f := url.Values{"name": {"Acme"}, "slug": {"acme"}, "billing_email": {"money@acme.example"}}
			r := c.post("/orgs/acme/settings", f, "HX-Request", "true")
			r.wantStatus(http.StatusOK)
			if strings.Contains(strings.ToLower(r.body), "<html") {
				t.Errorf("got a whole page, want only the profile card:\n%s", abbrev(r.body))
			}
			r.wantElement(`#profile-card [data-testid="profile-form"]`)
			r.wantElement(`#profile-card [data-testid="alert-success"]`)
			r.wantNoElement(`[data-testid="danger-zone"]`)
			if got := r.inputValue("billing_email"); got != "money@acme.example" {
				t.Errorf("billing email in partial: got %q, want %q", got, "money@acme.example")
			}

			t.Run("InvalidReturnsCardWith422", func(t *testing.T) {
				c := c.in(t)
				r := c.post("/orgs/acme/settings", url.Values{"name": {""}, "slug": {"acme"}}, "HX-Request", "true")
				r.wantStatus(http.StatusUnprocessableEntity)
				r.wantElement(`#profile-card [data-testid="error-name"]`)
				if strings.Contains(strings.ToLower(r.body), "<html") {
					t.Errorf("got a whole page, want only the profile card")
				}
			})
			t.Run("SlugChangeRedirectsWithHXRedirect", func(t *testing.T) {
				c := c.in(t)
				r := c.post("/orgs/acme/settings", orgForm("Acme", "acme-two"), "HX-Request", "true")
				r.wantStatus(http.StatusNoContent)
				if got := r.header.Get("HX-Redirect"); got != "/orgs/acme-two/settings" {
					t.Errorf("HX-Redirect: got %q, want /orgs/acme-two/settings", got)
				}
			})
		})
	})
}

func TestOrgLogo(t *testing.T) {
	t.Run("PNGUploadIsServedBack", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			c := e.newUser(t, "Olga", "olga@example.com")
			c.createOrg("Acme", "acme")
			c.get("/orgs/acme/logo").wantStatus(http.StatusNotFound)
			img := pngImage(t, 8, 8, false)
			c.upload("/orgs/acme/settings/logo", "logo", "logo.png", "image/png", img).wantRedirect("/orgs/acme/settings")

			r := c.get("/orgs/acme/logo")
			r.wantStatus(http.StatusOK)
			if got := r.header.Get("Content-Type"); got != "image/png" {
				t.Errorf("Content-Type: got %q, want image/png", got)
			}
			if !bytes.Equal([]byte(r.body), img) {
				t.Errorf("logo bytes: got %d bytes, want the %d uploaded", len(r.body), len(img))
			}
			s := c.get("/orgs/acme/settings")
			if src := s.attr(`#logo img`, "src"); !strings.HasPrefix(src, "/orgs/acme/logo?v=") {
				t.Errorf("settings logo: got src %q, want /orgs/acme/logo?v=…", src)
			}

			t.Run("RemoveLogo", func(t *testing.T) {
				c := c.in(t)
				c.post("/orgs/acme/settings/logo/delete", nil).wantRedirect("/orgs/acme/settings")
				c.get("/orgs/acme/logo").wantStatus(http.StatusNotFound)
			})
		})
	})

	t.Run("BadFilesAreRefused", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			c := e.newUser(t, "Olga", "olga@example.com")
			c.createOrg("Acme", "acme")
			big := pngImage(t, 420, 420, true)
			if len(big) <= 512<<10 {
				t.Fatalf("test image: got %d bytes, want more than 512 KB", len(big))
			}
			const wrongType = "Use a PNG, JPEG or GIF image"
			cases := []struct {
				name, filename, ctype string
				data                  []byte
				want                  string // in the error message
			}{
				{"SVG", "logo.svg", "image/svg+xml", []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>`), wrongType},
				{"SVGNamedPNG", "logo.png", "image/png", []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>`), wrongType},
				{"TextNamedPNG", "logo.png", "image/png", []byte("this is just some text, not an image at all\n"), wrongType},
				{"TruncatedPNG", "logo.png", "image/png", pngImage(t, 8, 8, false)[:20], "not a readable image"},
				{"Oversize", "big.png", "image/png", big, "the limit is 512 KB"},
				{"Empty", "empty.png", "image/png", nil, wrongType},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					c := c.in(t)
					r := c.upload("/orgs/acme/settings/logo", "logo", tc.filename, tc.ctype, tc.data)
					r.wantStatus(http.StatusUnprocessableEntity)
					if msg := r.text(`[data-testid="error-logo"]`); !strings.Contains(msg, tc.want) {
						t.Errorf("logo error: got %q, want it to contain %q", msg, tc.want)
					}
				})
			}
			t.Run("NoFile", func(t *testing.T) {
				c := c.in(t)
				r := c.post("/orgs/acme/settings/logo", nil)
				r.wantStatus(http.StatusUnprocessableEntity)
				r.wantElement(`[data-testid="error-logo"]`)
			})
			c.get("/orgs/acme/logo").wantStatus(http.StatusNotFound)
		})
	})
}

func TestOrgDelete(t *testing.T) {
	t.Run("RequiresExactNameThenRestores", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			c := e.newUser(t, "Olga", "olga@example.com")
			c.createOrg("Acme Rockets", "acme")
			mem := e.newUser(t, "Mia", "mia@example.com")
			e.addMember(t, e.org(t, "acme", "olga@example.com").ID, e.user(t, "mia@example.com").ID, orgbase.RoleMember)

			s := c.get("/orgs/acme/settings")
			s.wantElement(`[data-testid="danger-zone"] [data-testid="delete-org"]`)
			for _, wrong := range []string{"", "acme", "acme rockets", "Acme Rockets ", "Acme"} {
				r := c.post("/orgs/acme/delete", url.Values{"confirm": {wrong}})
				r.wantStatus(http.StatusUnprocessableEntity)
				r.wantFieldErrors("confirm")
			}
			if e.org(t, "acme", "olga@example.com").Deleted() {
				t.Fatal("org deleted without the exact name typed")
			}

			c.post("/orgs/acme/delete", url.Values{"confirm": {"Acme Rockets"}}).wantRedirect("/orgs")

			t.Run("OwnerSeesDeletedPageWithRestore", func(t *testing.T) {
				c := c.in(t)
				r := c.get("/orgs/acme")
				r.wantStatus(http.StatusOK)
				r.wantElement(`[data-testid="org-deleted"]`)
				r.wantElement(`[data-testid="restore-org"]`)
				r.wantNoElement(`[data-testid="overview-cards"]`)
			})
			t.Run("MemberSeesDeletedPageWithoutRestore", func(t *testing.T) {
				mem := mem.in(t)
				r := mem.get("/orgs/acme")
				r.wantStatus(http.StatusOK)
				r.wantElement(`[data-testid="org-deleted"]`)
				r.wantNoElement(`[data-testid="restore-org"]`)
				mem.post("/orgs/acme/restore", nil).wantStatus(http.StatusForbidden)
			})
			t.Run("OtherPagesRedirectToDeletedPage", func(t *testing.T) {
				c := c.in(t)
				c.get("/orgs/acme/settings").wantRedirect("/orgs/acme")
				c.post("/orgs/acme/settings", orgForm("X", "acme")).wantRedirect("/orgs/acme")
			})
			t.Run("GoneFromActiveLinks", func(t *testing.T) {
				c := c.in(t)
				r := c.get("/orgs")
				r.wantStatus(http.StatusOK)
				if contains(switcherSlugs(r), "acme") {
					t.Errorf("switcher: got %v, want the deleted org left out", switcherSlugs(r))
				}
				row := r.find(`[data-testid="org-list"] li:has(a[href="/orgs/acme"])`)
				if !strings.Contains(row.Text(), "Scheduled for deletion") {
					t.Errorf("org list row: got %q, want it marked as scheduled for deletion", strings.Join(strings.Fields(row.Text()), " "))
				}
				c.get("/").wantRedirect("/orgs")
			})

			c.post("/orgs/acme/restore", nil).wantRedirect("/orgs/acme")
			r := c.get("/orgs/acme")
			r.wantStatus(http.StatusOK)
			r.wantElement(`[data-testid="overview-cards"]`)
			if !contains(switcherSlugs(r), "acme") {
				t.Errorf("switcher after restore: got %v, want acme listed", switcherSlugs(r))
			}
			if e.org(t, "acme", "olga@example.com").Deleted() {
				t.Errorf("stored org: got deleted after restore, want live")
			}
			t.Run("RestoreAgainIsConflict", func(t *testing.T) {
				c := c.in(t)
				c.post("/orgs/acme/restore", nil).wantStatus(http.StatusConflict)
			})
		})
	})
}
