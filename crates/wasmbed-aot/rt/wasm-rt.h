/* The WebAssembly runtime interface wasm2c's output is written against,
 * for bare-metal Cortex-M and the Wasmbed native loader. wabt's own
 * runtime (wasm-rt-impl.c) needs an OS: signals, mmap, malloc and the
 * C library's setjmp. This one has none of them: memory comes from the
 * device through the host table, a trap unwinds with GCC's
 * __builtin_longjmp to the entry the device called, and every linear
 * memory access is kept inside the memory: by the device's MPU
 * (WASMBED_BOUNDS_MPU, below) or by a check in software
 * (WASMBED_RANGE_CHECK32).
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

#ifdef WASMBED_BOUNDS_MPU
/* Bounds in hardware: the app's code runs privileged, but every access to
 * linear memory is an unprivileged one (LDRT/STRT and their byte and
 * halfword forms), and the device's MPU gives unprivileged accesses the
 * app's memory and nothing else: an access outside it faults, and the
 * device turns the fault into this call's trap (see wasmbed-fw-native).
 *
 * Software still checks the one thing the MPU cannot see: an address
 * plus a nonzero offset past 4 GiB, which in 32 bits would wrap back into
 * the memory. The compiler rewrites each access to pass its offset apart
 * (NAME_at(mem, address, offset)), so that check is one compare against
 * a constant and the offset rides in the instruction. */
#define WASMBED_ALWAYS_INLINE static inline __attribute__((always_inline))

/* What the asm reads or writes, for the compiler's alias analysis: one
 * type for every access to linear memory, eight bytes wide from the
 * address (wider than any access: overlap is assumed, never missed), so
 * accesses to linear memory stay in order among themselves and with the
 * C library's bulk operations (char accesses), while the instance's own
 * fields (the memory's base, globals) stay in registers across them. */
struct wasmbed_linear { uint8_t bytes[8]; };
#define WASMBED_LINEAR(p) (*(struct wasmbed_linear*)(p))

/* Loads are plain asm: equal loads with no store between them are done
 * once, and the value is consumed by an empty volatile asm (as wasm2c's
 * own loads do), so a load whose value is unused still traps. */
#define WASMBED_LDT(insn, p, off)                                                   \
  ({                                                                               \
    uint32_t wasmbed_v_;                                                           \
    if (__builtin_constant_p(off) && (off) < 256u)                                 \
      __asm__(insn " %0, [%1, %2]"                                                 \
              : "=r"(wasmbed_v_)                                                   \
              : "r"(p), "n"(off), "m"(WASMBED_LINEAR((p) + (off))));               \
    else                                                                           \
      __asm__(insn " %0, [%1]" : "=r"(wasmbed_v_) : "r"((p) + (off)), "m"(WASMBED_LINEAR((p) + (off)))); \
    __asm__ volatile("" ::"r"(wasmbed_v_));                                        \
    wasmbed_v_;                                                                    \
  })
#define WASMBED_STT(insn, p, off, v)                                                 \
  do {                                                                              \
    if (__builtin_constant_p(off) && (off) < 256u)                                  \
      __asm__ volatile(insn " %1, [%2, %3]"                                         \
                       : "=m"(WASMBED_LINEAR((p) + (off)))                          \
                       : "r"((uint32_t)(v)), "r"(p), "n"(off));                     \
    else                                                                            \
      __asm__ volatile(insn " %1, [%2]"                                             \
                       : "=m"(WASMBED_LINEAR((p) + (off)))                          \
                       : "r"((uint32_t)(v)), "r"((p) + (off)));                     \
  } while (0)

WASMBED_ALWAYS_INLINE uint64_t wasmbed_load_bits(const uint8_t* p, uint32_t off, unsigned n) {
  switch (n) {
    case 1: return WASMBED_LDT("ldrbt", p, off);
    case 2: return WASMBED_LDT("ldrht", p, off);
    case 4: return WASMBED_LDT("ldrt", p, off);
    default: {
      uint32_t lo = WASMBED_LDT("ldrt", p, off);
      uint32_t hi = WASMBED_LDT("ldrt", p, off + 4u);
      return ((uint64_t)hi << 32) | lo;
    }
  }
}

WASMBED_ALWAYS_INLINE void wasmbed_store_bits(uint8_t* p, uint32_t off, unsigned n, uint64_t v) {
  switch (n) {
    case 1: WASMBED_STT("strbt", p, off, v); break;
    case 2: WASMBED_STT("strht", p, off, v); break;
    case 4: WASMBED_STT("strt", p, off, v); break;
    default:
      /* The high word first: a store running past the end faults before
       * it changed any byte (and one wrapping past 4 GiB never gets here:
       * see the reach below). */
      WASMBED_STT("strt", p, off + 4u, v >> 32);
      WASMBED_STT("strt", p, off, v);
      break;
  }
}

/* Traps when the access would reach past 4 GiB: `reach` is how far past
 * `a` the byte lies that must not wrap. One instruction's access checks
 * its offset: wrapping inside itself, it starts below the memory and
 * faults there. A store of two words checks its last byte: its high word,
 * stored first, must not wrap into the memory. A constant reach of 0
 * costs nothing. */
#define WASMBED_REACH_CHECK(a, reach)                                    \
  do {                                                                   \
    if ((reach) != 0 && UNLIKELY((uint64_t)(a) + (reach) > UINT32_MAX))   \
      wasm_rt_trap(WASM_RT_TRAP_OOB);                                    \
  } while (0)

#define WASMBED_DEFINE_LOAD(name, t1, t2, t3)                                          \
  WASMBED_ALWAYS_INLINE t3 name##_at(wasm_rt_memory_t* mem, uint32_t a, uint32_t off) { \
    WASMBED_REACH_CHECK(a, off);                                                        \
    uint64_t bits = wasmbed_load_bits(mem->data + a, off, sizeof(t1));                  \
    t1 result;                                                                          \
    __builtin_memcpy(&result, &bits, sizeof(t1));                                       \
    return (t3)(t2)result;                                                              \
  }                                                                                     \
  WASMBED_ALWAYS_INLINE t3 name(wasm_rt_memory_t* mem, u64 addr) {                      \
    if (UNLIKELY((uint32_t)(addr >> 32) != 0)) wasm_rt_trap(WASM_RT_TRAP_OOB);          \
    return name##_at(mem, (uint32_t)addr, 0);                                           \
  }

#define WASMBED_DEFINE_STORE(name, t1, t2)                                                          \
  WASMBED_ALWAYS_INLINE void name##_at(wasm_rt_memory_t* mem, uint32_t a, uint32_t off, t2 value) { \
    WASMBED_REACH_CHECK(a, (uint64_t)off + (sizeof(t1) == 8 ? 7u : 0u));                             \
    t1 wrapped = (t1)value;                                                                         \
    uint64_t bits = 0;                                                                              \
    __builtin_memcpy(&bits, &wrapped, sizeof(t1));                                                  \
    wasmbed_store_bits(mem->data + a, off, sizeof(t1), bits);                                       \
  }                                                                                                 \
  WASMBED_ALWAYS_INLINE void name(wasm_rt_memory_t* mem, u64 addr, t2 value) {                      \
    if (UNLIKELY((uint32_t)(addr >> 32) != 0)) wasm_rt_trap(WASM_RT_TRAP_OOB);                      \
    name##_at(mem, (uint32_t)addr, 0, value);                                                       \
  }
#endif

#endif
