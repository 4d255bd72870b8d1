// Package auth authenticates API callers and authorizes each API method:
// users and service accounts with one role each (admin, asset_manager,
// change_manager, service_desk, viewer), bearer tokens bound to them and
// stored hashed, and a permission table (permissions.go) that maps every
// API route name to the roles allowed. A route missing from the table is
// refused to everyone, and a test walking the fully wired API fails on it.
//
// On first start Bootstrap creates the admin user and writes its token to
// the data directory (mode 0600), where the CLI finds it.
//
// Keys: ac/user/<name>, ac/tok/<id>.
package auth
