package web

import (
	"bytes"
	"fmt"
	"image"
	_ "image/gif" // registers GIF for logo validation
	_ "image/jpeg"
	_ "image/png"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
	"github.com/orgbase/orgbase/views/layout"
	"github.com/orgbase/orgbase/views/orgs"
)

// Logo limits.
const (
	maxLogoBytes = 512 << 10
	maxLogoSide  = 4096
)

func (s *Server) handleOrgIndex(c echo.Context) error {
	return s.renderPage(c, http.StatusOK, "Organizations", "", func(sh layout.Shell) templ.Component { return orgs.Index(sh) })
}

func (s *Server) handleOrgNew(c echo.Context) error {
	return s.renderPage(c, http.StatusOK, "Create an organization", "", func(sh layout.Shell) templ.Component { return orgs.New(sh, orgs.NewForm{}) })
}

// handleOrgCreate runs the create-organization wizard: the creator becomes
// owner and the Primary workspace is created with the organization.
func (s *Server) handleOrgCreate(c echo.Context) error {
	ctx := c.Request().Context()
	f := orgs.NewForm{Name: sanitizeEcho(c.FormValue("name")), Slug: sanitizeEcho(c.FormValue("slug")),
		CompanySize: c.FormValue("company_size"), CreatorFunction: c.FormValue("creator_function"), Plan: c.FormValue("plan")}
	var v orgbase.Validator
	name, err := orgbase.CleanText(c.FormValue("name"), "Organization name", orgbase.MaxOrgNameLen, true)
	v.Add("name", err)
	slug, derived := c.FormValue("slug"), false
	if slug == "" && name != "" {
		slug, derived = orgbase.Slugify(name), true
	}
	if derived && orgbase.CheckSlug(slug) != nil {
		v.Check(false, "slug", "We could not derive a URL from this name. Choose one.")
	} else if name != "" || slug != "" {
		v.Add("slug", orgbase.CheckSlug(slug))
	}
	v.Check(orgbase.OneOf(f.CompanySize, orgbase.CompanySizes), "company_size", "Choose one of the sizes.")
	v.Check(orgbase.OneOf(f.CreatorFunction, orgbase.CreatorFunctions), "creator_function", "Choose one of the functions.")
	if f.Plan == "" {
		f.Plan = orgbase.PlanFree
	}
	plan, known := orgbase.FindPlan(f.Plan)
	v.Check(known && !plan.Custom, "plan", "Choose one of the plans.")
	if v.Valid() && derived {
		// A derived slug that is taken gets the first free numbered variant.
		if slug, err = s.freeSlug(c, slug); err != nil {
			return err
		}
	}
	if !v.Valid() {
		f.Fields = v.Fields
		return s.renderPage(c, http.StatusUnprocessableEntity, "Create an organization", "", func(sh layout.Shell) templ.Component { return orgs.New(sh, f) })
	}
	u := currentUser(c)
	org, err := s.orgs.CreateOrg(ctx, u.ID, store.NewOrg{Name: name, Slug: slug, CompanySize: f.CompanySize, CreatorFunction: f.CreatorFunction,
		BillingEmail: u.Email, FreeTrial: plan.Key == orgbase.PlanFree})
	if orgbase.ErrorCode(err) == orgbase.ECONFLICT {
		f.Fields, f.Slug = fieldsOf(err), slug
		return s.renderPage(c, http.StatusUnprocessableEntity, "Create an organization", "", func(sh layout.Shell) templ.Component { return orgs.New(sh, f) })
	} else if err != nil {
		return err
	}
	if !plan.Paid() {
		// Free: CreateOrg granted the trial credits with the organization.
		if err := s.flash(c, "success", org.Name+" is ready with its "+plan.Credits.String()+" trial credits. You are its owner."); err != nil {
			return err
		}
		return s.redirect(c, "/orgs/"+org.Slug)
	}
	// A paid plan: the organization exists (on Free until paid); pay now.
	org, mem, err := s.orgs.FindOrgForMember(ctx, org.Slug, u.ID)
	if err != nil {
		return err
	}
	c.Set("scope", &scope{Org: org, Membership: mem, Access: orgbase.Access{Membership: mem}})
	to, started, err := s.startCheckout(c, orgbase.OfferPlan, plan.Key)
	if err != nil {
		return err
	}
	if started { // else startCheckout flashed the provider's error
		if err := s.flash(c, "success", org.Name+" is ready. Pay for the "+plan.Name+" plan to get its credits."); err != nil {
			return err
		}
	}
	return s.redirect(c, to)
}

func (s *Server) freeSlug(c echo.Context, base string) (string, error) {
	for i := 1; i < 50; i++ {
		cand := base
		if i > 1 {
			suffix := "-" + strconv.Itoa(i)
			if len(base)+len(suffix) > orgbase.MaxSlugLen {
				cand = strings.TrimRight(base[:orgbase.MaxSlugLen-len(suffix)], "-")
			}
			cand += suffix
		}
		ok, err := s.orgs.SlugAvailable(c.Request().Context(), cand)
		if err != nil || ok {
			return cand, err
		}
	}
	return base, nil // CreateOrg reports the conflict on the slug field
}

func (s *Server) handleOrgDeletedShow(c echo.Context) error {
	canRestore := orgbase.Can(orgOf(c).actor(), orgbase.ActionOrgRestore)
	return s.renderPage(c, http.StatusOK, orgOf(c).Org.Name, "", func(sh layout.Shell) templ.Component { return orgs.Deleted(sh, canRestore) })
}

func (s *Server) settingsModel(c echo.Context) orgs.SettingsModel {
	o := orgOf(c).Org
	return orgs.SettingsModel{
		Form:      orgbase.OrgUpdate{Name: o.Name, Slug: o.Slug, BillingEmail: o.BillingEmail, CompanySize: o.CompanySize, CreatorFunction: o.CreatorFunction},
		Fields:    map[string]string{},
		CanDelete: orgbase.Can(orgOf(c).actor(), orgbase.ActionOrgDelete),
		GraceDays: int(s.cfg.DeleteGrace.Hours() / 24),
	}
}

func (s *Server) renderSettings(c echo.Context, status int, m orgs.SettingsModel) error {
	sh, err := s.shell(c, "Settings", "settings")
	if err != nil {
		return err
	}
	return render(c, status, orgs.Settings(sh, m), orgs.ProfileCard(sh, m))
}

func (s *Server) handleOrgSettingsShow(c echo.Context) error {
	return s.renderSettings(c, http.StatusOK, s.settingsModel(c))
}

// handleOrgSettingsUpdate saves the profile. A changed slug changes every
// URL of the organization, so the browser is sent to the new one.
func (s *Server) handleOrgSettingsUpdate(c echo.Context) error {
	sc := orgOf(c)
	m := s.settingsModel(c)
	m.Form = orgbase.OrgUpdate{Name: sanitizeEcho(c.FormValue("name")), Slug: sanitizeEcho(c.FormValue("slug")),
		BillingEmail: sanitizeEcho(c.FormValue("billing_email")), CompanySize: c.FormValue("company_size"), CreatorFunction: c.FormValue("creator_function")}
	var v orgbase.Validator
	var u orgbase.OrgUpdate
	var err error
	u.Name, err = orgbase.CleanText(m.Form.Name, "Organization name", orgbase.MaxOrgNameLen, true)
	v.Add("name", err)
	u.Slug = m.Form.Slug
	v.Add("slug", orgbase.CheckSlug(u.Slug))
	if m.Form.BillingEmail != "" {
		u.BillingEmail, err = orgbase.NormalizeEmail(m.Form.BillingEmail)
		v.Add("billing_email", err)
	}
	u.CompanySize, u.CreatorFunction = m.Form.CompanySize, m.Form.CreatorFunction
	v.Check(orgbase.OneOf(u.CompanySize, orgbase.CompanySizes), "company_size", "Choose one of the sizes.")
	v.Check(orgbase.OneOf(u.CreatorFunction, orgbase.CreatorFunctions), "creator_function", "Choose one of the functions.")
	if !v.Valid() {
		m.Fields = v.Fields
		return s.renderSettings(c, http.StatusUnprocessableEntity, m)
	}
	org, err := s.orgs.UpdateOrg(c.Request().Context(), sc.Org.ID, u)
	if orgbase.ErrorCode(err) == orgbase.ECONFLICT {
		m.Fields = fieldsOf(err)
		return s.renderSettings(c, http.StatusUnprocessableEntity, m)
	} else if err != nil {
		return err
	}
	if org.Slug != sc.Org.Slug || org.Name != sc.Org.Name || !isHTMX(c) {
		// The header, switcher and every link change with the name or slug.
		if err := s.flash(c, "success", "Profile saved."); err != nil {
			return err
		}
		return s.redirect(c, "/orgs/"+org.Slug+"/settings")
	}
	sc.Org = org
	m = s.settingsModel(c)
	m.Saved = true
	return s.renderSettings(c, http.StatusOK, m)
}

// handleOrgLogoUpdate stores an uploaded raster logo after checking its real
// type (not the declared one), size and dimensions.
func (s *Server) handleOrgLogoUpdate(c echo.Context) error {
	sc := orgOf(c)
	m := s.settingsModel(c)
	fail := func(msg string) error {
		m.LogoError = msg
		return s.renderSettings(c, http.StatusUnprocessableEntity, m)
	}
	fh, err := c.FormFile("logo")
	if err != nil {
		return fail("Choose an image file to upload.")
	}
	if fh.Size > maxLogoBytes {
		return fail(fmt.Sprintf("The logo is %d KB; the limit is %d KB.", fh.Size>>10, maxLogoBytes>>10))
	}
	f, err := fh.Open()
	if err != nil {
		return err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxLogoBytes+1))
	if err != nil {
		return err
	}
	if len(data) > maxLogoBytes {
		return fail(fmt.Sprintf("The logo is larger than %d KB.", maxLogoBytes>>10))
	}
	typ, msg := checkLogo(data)
	if msg != "" {
		return fail(msg)
	}
	if err := s.orgs.SetOrgLogo(c.Request().Context(), sc.Org.ID, typ, data); err != nil {
		return err
	}
	if err := s.flash(c, "success", "Logo updated."); err != nil {
		return err
	}
	return s.redirect(c, "/orgs/"+sc.Org.Slug+"/settings")
}

// checkLogo reads an uploaded logo's real type (not the declared one) and
// dimensions: a PNG, JPEG or GIF whose header decodes, at most maxLogoSide
// pixels a side. msg says what is wrong, else typ is the type to store.
func checkLogo(data []byte) (typ, msg string) {
	typ = http.DetectContentType(data)
	switch typ {
	case "image/png", "image/jpeg", "image/gif":
	default:
		return "", "Use a PNG, JPEG or GIF image. SVG and other formats are not accepted."
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return "", "This file is not a readable image."
	}
	if cfg.Width > maxLogoSide || cfg.Height > maxLogoSide || cfg.Width <= 0 || cfg.Height <= 0 {
		return "", fmt.Sprintf("Use an image at most %d×%d pixels.", maxLogoSide, maxLogoSide)
	}
	return typ, ""
}

func (s *Server) handleOrgLogoDelete(c echo.Context) error {
	sc := orgOf(c)
	if err := s.orgs.SetOrgLogo(c.Request().Context(), sc.Org.ID, "", nil); err != nil {
		return err
	}
	if err := s.flash(c, "success", "Logo removed."); err != nil {
		return err
	}
	return s.redirect(c, "/orgs/"+sc.Org.Slug+"/settings")
}

// handleOrgLogoShow serves the logo to members, with its stored type.
func (s *Server) handleOrgLogoShow(c echo.Context) error {
	typ, data, err := s.orgs.FindOrgLogo(c.Request().Context(), orgOf(c).Org.ID)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "private, max-age=31536000, immutable")
	c.Response().Header().Set("Content-Security-Policy", "default-src 'none'")
	return c.Blob(http.StatusOK, typ, data)
}

// handleOrgDelete starts the deletion grace period after the owner typed the name.
func (s *Server) handleOrgDelete(c echo.Context) error {
	sc := orgOf(c)
	if c.FormValue("confirm") != sc.Org.Name {
		m := s.settingsModel(c)
		m.DeleteErr = "Type the organization's name exactly to confirm."
		return s.renderSettings(c, http.StatusUnprocessableEntity, m)
	}
	org, err := s.orgs.DeleteOrg(c.Request().Context(), sc.Org.ID, s.cfg.DeleteGrace)
	if err != nil {
		return err
	}
	if err := s.flash(c, "success", fmt.Sprintf("%s is scheduled for deletion on %s. An owner can restore it until then.", org.Name, org.PurgeAfter.Format("January 2, 2006"))); err != nil {
		return err
	}
	return s.redirect(c, "/orgs")
}

func (s *Server) handleOrgRestore(c echo.Context) error {
	sc := orgOf(c)
	if err := s.orgs.RestoreOrg(c.Request().Context(), sc.Org.ID); err != nil {
		return err
	}
	if err := s.flash(c, "success", sc.Org.Name+" has been restored."); err != nil {
		return err
	}
	return s.redirect(c, "/orgs/"+sc.Org.Slug)
}
