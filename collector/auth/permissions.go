package auth

// Role is what a user or service account may do.
type Role string

// The roles, from most to least powerful.
const (
	RoleAdmin         Role = "admin"
	RoleAssetManager  Role = "asset_manager"
	RoleChangeManager Role = "change_manager"
	RoleServiceDesk   Role = "service_desk"
	RoleViewer        Role = "viewer"
)

// Roles lists every role.
var Roles = []Role{RoleAdmin, RoleAssetManager, RoleChangeManager, RoleServiceDesk, RoleViewer}

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	for _, x := range Roles {
		if r == x {
			return true
		}
	}
	return false
}

// Role sets used by the table. Admin may call every route in the table,
// so the sets name the other roles only.
var (
	anyone        = []Role{RoleViewer, RoleServiceDesk, RoleChangeManager, RoleAssetManager}
	adminOnly     = []Role{}
	assets        = []Role{RoleAssetManager}
	changes       = []Role{RoleChangeManager}
	serviceDesk   = []Role{RoleServiceDesk}
	desksAndAsset = []Role{RoleServiceDesk, RoleAssetManager}
	nonViewers    = []Role{RoleServiceDesk, RoleChangeManager, RoleAssetManager}
)

// Permissions maps every API route name to the roles (besides admin)
// allowed to call it. A route without an entry is refused to everyone.
var Permissions = map[string][]Role{
	// CI graph (read side).
	"ci.list":    anyone,
	"ci.get":     anyone,
	"ci.history": anyone,
	"ci.asof":    anyone,
	"ci.diff":    anyone,
	"ci.impact":  anyone,
	"ci.search":  anyone,

	// The OpenAPI document of the route table.
	"api.openapi": anyone,

	// Trust: enrollment, agents, users, tokens, audit.
	"enroll_token.create": adminOnly,
	"enroll_token.list":   adminOnly,
	"enroll_token.revoke": adminOnly,
	"agent.list":          anyone,
	"agent.revoke":        adminOnly,
	"ca.get":              anyone,
	"user.list":           adminOnly,
	"user.create":         adminOnly,
	"user.update":         adminOnly,
	"token.create":        adminOnly,
	"token.list":          adminOnly,
	"token.revoke":        adminOnly,
	"auth.whoami":         anyone,
	"audit.list":          adminOnly,

	// Incidents, problems, KPIs.
	"incident.create":      serviceDesk,
	"incident.list":        anyone,
	"incident.get":         anyone,
	"incident.update":      serviceDesk,
	"incident.assign":      serviceDesk,
	"incident.transition":  serviceDesk,
	"incident.comment":     serviceDesk,
	"incident.link":        serviceDesk,
	"ci.incidents":         anyone,
	"incident.config.get":  anyone,
	"incident.config.set":  adminOnly,
	"report.kpis":          anyone,
	"problem.create":       serviceDesk,
	"problem.list":         anyone,
	"problem.get":          anyone,
	"problem.update":       serviceDesk,
	"problem.transition":   serviceDesk,
	"problem.link":         serviceDesk,
	"problem.known_errors": anyone,

	// Lifecycle, finances, contracts, licences.
	"asset.create":         assets,
	"asset.update":         assets,
	"asset.finance":        anyone,
	"asset.import":         assets,
	"asset.upload":         assets,
	"asset.export":         anyone,
	"lifecycle.get":        anyone,
	"lifecycle.transition": assets,
	"lifecycle.renew":      assets,
	"contract.create":      assets,
	"contract.link":        assets,
	"lifecycle.due":        anyone,
	"report.assets":        anyone,
	"licence.list":         anyone,
	"licence.create":       assets,
	"licence.compliance":   anyone,
	"licence.import":       assets,
	"licence.export":       anyone,
	"licence.get":          anyone,
	"licence.update":       assets,
	"licence.delete":       assets,
	"software.title":       anyone,

	// Change management: who may approve is the change's approval rule's
	// business, so every role but viewer may call approve and reject.
	"change.list": anyone, "change.get": anyone, "change.impact": anyone, "change.review.report": anyone,
	"change.create": nonViewers, "change.submit": nonViewers, "change.cancel": nonViewers,
	"change.approve": nonViewers, "change.reject": nonViewers, "change.link_incident": nonViewers,
	"change.impact.recompute": changes, "change.schedule": changes, "change.implement": changes,
	"change.review": changes, "change.close": changes, "change.verify": changes,
	"change.template.list": anyone, "change.template.get": anyone, "change.template.put": changes, "change.template.delete": changes,
	"change.freeze.list": anyone, "change.freeze.put": changes, "change.freeze.delete": changes,
	"change.rules.get": anyone, "change.rules.set": adminOnly,
	"change.control.list": anyone, "change.control.set": changes,
	"change.drift.list": anyone, "change.drift.resolve": changes,
}

// Allowed reports whether role may call route, and whether route has a
// permission entry at all.
func Allowed(role Role, route string) (allowed, known bool) {
	roles, ok := Permissions[route]
	if !ok {
		return false, false
	}
	if role == RoleAdmin {
		return true, true
	}
	for _, r := range roles {
		if r == role {
			return true, true
		}
	}
	return false, true
}
