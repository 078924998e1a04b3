// Flat memory ABI (DESIGN.md principle 2).
//
// The TypeScript façade reserves its regions once, at load time, through `reserve`, and from then
// on only passes offsets and lengths. The stub runtime never frees, so nothing on a hot path may
// call `reserve`: regions are sized for the worst case when the façade starts.

/** Reserves `size` bytes of linear memory, 16-byte aligned, zero-filled, for the life of the instance. */
export function reserve(size: usize): usize {
  const ptr = heap.alloc((size + 15) & ~15);
  memory.fill(ptr, 0, size);
  return ptr;
}
