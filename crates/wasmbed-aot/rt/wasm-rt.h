/* The WebAssembly runtime interface wasm2c's output is written against,
 * for bare-metal Cortex-M and the Wasmbed native loader. wabt's own
 * runtime (wasm-rt-impl.c) needs an OS: signals, mmap, malloc and the
 * C library's setjmp. This one has none of them: memory comes from the
 * device through the host table, a trap unwinds with GCC's
 * __builtin_longjmp to the entry the device called, and every linear
 * memory access is checked in software (see WASMBED_MEMCHECK).
 *
 * Written for the wasm2c of wabt 1.0.32 (see wasmbed-aot's WASM2C_VERSION). */
#ifndef WASMBED_WASM_RT_H
#define WASMBED_WASM_RT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WASM_RT_MEMCHECK_SIGNAL_HANDLER 0
#define WASM_RT_USE_STACK_DEPTH_COUNT 0
#define WASM_RT_MAX_CALL_STACK_DEPTH 0

#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

#define wasm_rt_memcpy __builtin_memcpy

typedef enum {
  WASM_RT_TRAP_NONE,
  WASM_RT_TRAP_OOB,
  WASM_RT_TRAP_INT_OVERFLOW,
  WASM_RT_TRAP_DIV_BY_ZERO,
  WASM_RT_TRAP_INVALID_CONVERSION,
  WASM_RT_TRAP_UNREACHABLE,
  WASM_RT_TRAP_CALL_INDIRECT,
  WASM_RT_TRAP_UNCAUGHT_EXCEPTION,
  WASM_RT_TRAP_UNALIGNED,
  WASM_RT_TRAP_EXHAUSTION,
  /* Wasmbed's own: the call's fuel ran out (unused: see DEADLINE). */
  WASMBED_TRAP_OUT_OF_FUEL,
  /* A host function refused the call (e.g. a buffer outside memory). */
  WASMBED_TRAP_HOST,
  /* Memory or a table could not be allocated. */
  WASMBED_TRAP_NO_MEMORY,
  /* The call ran past its deadline; the device stopped it. */
  WASMBED_TRAP_DEADLINE,
} wasm_rt_trap_t;

typedef enum {
  WASM_RT_I32,
  WASM_RT_I64,
  WASM_RT_F32,
  WASM_RT_F64,
  WASM_RT_V128,
  WASM_RT_FUNCREF,
  WASM_RT_EXTERNREF,
} wasm_rt_type_t;

typedef void (*wasm_rt_function_ptr_t)(void);

typedef struct {
  uint32_t func_type;
  wasm_rt_function_ptr_t func;
  void* module_instance;
} wasm_rt_funcref_t;

#define wasm_rt_funcref_null_value ((wasm_rt_funcref_t){0, NULL, NULL})

typedef void* wasm_rt_externref_t;
#define wasm_rt_externref_null_value (NULL)

/* Sizes are 32-bit: a device's linear memory is far below 4 GiB, and the
 * bounds check is then one 32-bit compare. */
typedef struct {
  uint8_t* data;
  uint32_t pages, max_pages;
  uint32_t size;
} wasm_rt_memory_t;

typedef struct {
  wasm_rt_funcref_t* data;
  uint32_t max_size;
  uint32_t size;
} wasm_rt_funcref_table_t;

typedef struct {
  wasm_rt_externref_t* data;
  uint32_t max_size;
  uint32_t size;
} wasm_rt_externref_table_t;

void wasm_rt_trap(wasm_rt_trap_t) __attribute__((noreturn));
uint32_t wasm_rt_register_func_type(uint32_t params, uint32_t results, ...);
void wasm_rt_allocate_memory(wasm_rt_memory_t*, uint32_t initial_pages, uint32_t max_pages);
uint32_t wasm_rt_grow_memory(wasm_rt_memory_t*, uint32_t pages);
void wasm_rt_free_memory(wasm_rt_memory_t*);
void wasm_rt_allocate_funcref_table(wasm_rt_funcref_table_t*, uint32_t elements, uint32_t max_elements);
void wasm_rt_allocate_externref_table(wasm_rt_externref_table_t*, uint32_t elements, uint32_t max_elements);
void wasm_rt_free_funcref_table(wasm_rt_funcref_table_t*);
void wasm_rt_free_externref_table(wasm_rt_externref_table_t*);
uint32_t wasm_rt_grow_funcref_table(wasm_rt_funcref_table_t*, uint32_t delta, wasm_rt_funcref_t init);
uint32_t wasm_rt_grow_externref_table(wasm_rt_externref_table_t*, uint32_t delta, wasm_rt_externref_t init);
#define wasm_rt_is_initialized() true

/* What every function of the app's code checks on entry (replacing
 * wasm2c's call-depth count): the stack left. Runaway code costs nothing
 * per loop: the device's timer stops a call past its deadline by sending
 * the interrupted code to wasmbed_abort (see wasmbed-fw-native). */
extern uintptr_t wasmbed_stack_limit;
#define WASMBED_PROLOGUE                                                   \
  do {                                                                     \
    uintptr_t wasmbed_sp_;                                                 \
    __asm__("mov %0, sp" : "=r"(wasmbed_sp_));                              \
    if (UNLIKELY(wasmbed_sp_ < wasmbed_stack_limit))                         \
      wasm_rt_trap(WASM_RT_TRAP_EXHAUSTION);                               \
  } while (0)

/* The bounds check of an access of `n` bytes at `a`: the 32-bit address
 * plus the instruction's offset, as a u64 so it cannot wrap. */
#define WASMBED_RANGE_CHECK(mem, a, n)                                  \
  do {                                                                  \
    if (UNLIKELY((uint64_t)(a) + (uint64_t)(n) > (uint64_t)(mem)->size)) \
      wasm_rt_trap(WASM_RT_TRAP_OOB);                                   \
  } while (0)

/* The same in 32 bits, for a memory of at least one page (its size is
 * then at least 64 KiB, so `size - n` cannot wrap): the high word of `a`
 * is the carry of the address plus offset, and must be zero. */
#define WASMBED_RANGE_CHECK32(mem, a, n)                                        \
  do {                                                                        \
    uint64_t wasmbed_a_ = (a);                                                \
    if (UNLIKELY((uint32_t)(wasmbed_a_ >> 32) != 0 ||                         \
                 (uint32_t)wasmbed_a_ > (mem)->size - (uint32_t)(n)))         \
      wasm_rt_trap(WASM_RT_TRAP_OOB);                                         \
  } while (0)

#endif
