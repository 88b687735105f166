package compiler

// Resolutions returns how many VNs the cache's compiles resolved in full
// (complete) and from the last compile (completeDelta).
func (c *Cache) Resolutions() (completes, deltas int) { return c.completes, c.deltas }
