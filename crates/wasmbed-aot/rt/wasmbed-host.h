/* What the device hands an artifact (the imports' "instance", in wasm2c's
 * words): how to reach the granted host functions and the heap. The
 * device's loader lays out the same struct (wasmbed-agent's native.rs). */
#ifndef WASMBED_HOST_H
#define WASMBED_HOST_H

#include <stdint.h>

struct Z_wasmbed_instance_t {
  /* Calls import number `import` (its place in the artifact's import
   * list) with its arguments in io[0..] (floats as their bits); the result
   * comes back in io[0]. Nonzero: the host refused, the call traps. */
  uint32_t (*call)(struct Z_wasmbed_instance_t* host, uint32_t import, uint64_t* io);
  /* Zeroed, 8-byte aligned; NULL when the heap cannot give it. */
  void* (*alloc)(struct Z_wasmbed_instance_t* host, uint32_t bytes);
  /* Moves `old` to a larger block, the rest zeroed; NULL leaves it. */
  void* (*grow)(struct Z_wasmbed_instance_t* host, void* old, uint32_t old_bytes, uint32_t new_bytes);
  void (*release)(struct Z_wasmbed_instance_t* host, void* block, uint32_t bytes);
  /* Resizes the app's linear memory (`old` NULL: a new one; `new_bytes`
   * 0: frees it), zeroing what it adds, placed as the device's MPU needs
   * it to confine the code to it. NULL leaves `old` as it was. */
  void* (*memory)(struct Z_wasmbed_instance_t* host, void* old, uint32_t old_bytes, uint32_t new_bytes);
  /* The most the app's memory and table may grow to (its budget). */
  uint32_t max_memory_pages;
  uint32_t max_table_elements;
};

extern struct Z_wasmbed_instance_t* wasmbed_host;
extern void* wasmbed_jmp[5];
uint32_t wasmbed_trapped(void);
void wasmbed_abort(void);
void wasmbed_out_of_bounds(void);
extern const char wasmbed_guest_start[], wasmbed_guest_end[];

/* The entry points the device calls, in the order of the header's bits. */
enum { WASMBED_INIT = 0, WASMBED_TICK = 1, WASMBED_ON_MESSAGE = 2 };

struct wasmbed_header {
  uint32_t magic; /* "WNA2" */
  uint32_t instance_size;
  /* Bit n: entry point n is exported; bit 3: the app exports its memory;
   * bit 4: linear memory's bounds are the MPU's (WASMBED_BOUNDS_MPU). */
  uint32_t exports;
  /* Instantiates into `instance` (instance_size bytes, zeroed) and runs
   * the start function: 0, or the trap. */
  uint32_t (*instantiate)(void* instance, struct Z_wasmbed_instance_t* host, uintptr_t stack_limit);
  /* Runs entry point `entry` with `arg`: 0, or the trap. */
  uint32_t (*call)(void* instance, uint32_t entry, uint64_t arg, uintptr_t stack_limit);
  /* The exported memory (NULL without one). */
  void* (*memory)(void* instance);
  /* Frees what the instance allocated. */
  void (*release)(void* instance, struct Z_wasmbed_instance_t* host);
  /* Traps with WASMBED_TRAP_DEADLINE: where the device's timer sends the
   * app's code when a call runs past its deadline... */
  void (*abort)(void);
  /* ...if it interrupted the app's own code, which lies here (the
   * runtime and C library after it are never interrupted this way). */
  const void* guest_start;
  const void* guest_end;
  /* Traps with WASM_RT_TRAP_OOB: where the device sends the app's code
   * when one of its unprivileged accesses faulted (bit 4 above). */
  void (*out_of_bounds)(void);
};

#endif
