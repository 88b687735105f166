package flow

// nva's cookie scheme. Every flow nva installs carries a 64-bit cookie:
//
//	bits 63..48  CookieTag (0x4e56, "NV"): the flow belongs to nva
//	bits 47..32  generation: which compilation generation installed it
//	bits 31..0   flow ID: FNV-1a of the flow's identity (table, priority,
//	             canonical binary match), see Key.ID
//
// The southbound selects nva's flows with cookie=CookieTag<<48 and
// cookie_mask=CookieTagMask, so flows other agents install on the same
// bridge (cookie top bits not 0x4e56) are never read, modified or deleted.
// A generation is selected with GenerationMask. The flow ID is derived
// from what OpenFlow itself uses as a flow's identity (table, priority,
// match), so desired and installed flows pair up by cookie, and a change
// of actions keeps the ID (a modify, not a delete+add).
const (
	CookieTag      uint64 = 0x4e56
	CookieTagShift        = 48
	CookieTagMask  uint64 = 0xffff << CookieTagShift
	GenerationMask uint64 = 0xffffffff << 32 // tag + generation
	CookieIDMask   uint64 = 0xffffffff
)

// NVACookie is the cookie value that, with CookieTagMask, selects every
// flow nva owns.
const NVACookie = CookieTag << CookieTagShift

// MakeCookie builds nva's cookie for a generation and flow ID.
func MakeCookie(generation uint16, id uint32) uint64 {
	return CookieTag<<CookieTagShift | uint64(generation)<<32 | uint64(id)
}

// IsNVACookie reports whether a cookie carries nva's tag.
func IsNVACookie(c uint64) bool { return c&CookieTagMask == NVACookie }

// CookieGeneration returns the generation of an nva cookie.
func CookieGeneration(c uint64) uint16 { return uint16(c >> 32) }

// CookieID returns the flow ID of an nva cookie.
func CookieID(c uint64) uint32 { return uint32(c) }

// ID is a flow's 32-bit identity hash, KeyOf(f).ID(): two flows OpenFlow
// considers the same entry (same table, priority, match) have the same ID.
// (Until the flow Key, it hashed the match's text; the IDs, and so the
// cookies of installed flows, changed once with it.)
func ID(f Flow) uint32 { return KeyOf(f).ID() }

// SetCookie sets f's cookie to nva's cookie for generation and f's ID.
func (f *Flow) SetCookie(generation uint16) { f.Cookie = MakeCookie(generation, ID(*f)) }
