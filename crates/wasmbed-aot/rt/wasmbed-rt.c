/* The runtime every native artifact links: traps, function types, memory
 * and tables, all memory from the device through its host table. No C
 * library state: the image is copied into RAM and relocated by the
 * device, and everything here lives in the image. */
#include <stdarg.h>
#include <string.h>

#include "wasm-rt.h"
#include "wasmbed-host.h"

uintptr_t wasmbed_stack_limit;
/* The entry the device called: where a trap unwinds to. */
void* wasmbed_jmp[5];
struct Z_wasmbed_instance_t* wasmbed_host;
static wasm_rt_trap_t wasmbed_trap_code;

void wasm_rt_trap(wasm_rt_trap_t code) {
  wasmbed_trap_code = code;
  __builtin_longjmp(wasmbed_jmp, 1);
}

/* Where the device's timer sends app code that ran past its deadline
 * (only ever from the app's own code, never from here or a host call). */
void wasmbed_abort(void) {
  wasm_rt_trap(WASMBED_TRAP_DEADLINE);
}

/* Where the device sends app code whose access to linear memory faulted
 * in the MPU (only ever from the app's own code). */
void wasmbed_out_of_bounds(void) {
  wasm_rt_trap(WASM_RT_TRAP_OOB);
}

uint32_t wasmbed_trapped(void) {
  return (uint32_t)wasmbed_trap_code;
}

/* Function types: equal signatures get equal numbers (call_indirect
 * compares them). A module has few; more than the table holds traps. */
#define MAX_TYPES 128
#define MAX_TYPE_WORDS 16
static uint8_t type_len[MAX_TYPES];
static uint8_t type_sig[MAX_TYPES][MAX_TYPE_WORDS + 2];
static uint32_t type_count;

uint32_t wasm_rt_register_func_type(uint32_t params, uint32_t results, ...) {
  uint8_t sig[MAX_TYPE_WORDS + 2];
  uint32_t n = params + results;
  if (n > MAX_TYPE_WORDS) wasm_rt_trap(WASMBED_TRAP_NO_MEMORY);
  sig[0] = (uint8_t)params;
  sig[1] = (uint8_t)results;
  va_list ap;
  va_start(ap, results);
  for (uint32_t i = 0; i < n; i++) sig[2 + i] = (uint8_t)va_arg(ap, int);
  va_end(ap);
  for (uint32_t t = 0; t < type_count; t++) {
    if (type_len[t] == n + 2 && memcmp(type_sig[t], sig, n + 2) == 0) return t + 1;
  }
  if (type_count == MAX_TYPES) wasm_rt_trap(WASMBED_TRAP_NO_MEMORY);
  memcpy(type_sig[type_count], sig, n + 2);
  type_len[type_count] = (uint8_t)(n + 2);
  return ++type_count;
}

#define PAGE 65536u

void wasm_rt_allocate_memory(wasm_rt_memory_t* mem, uint32_t initial, uint32_t max) {
  uint32_t cap = wasmbed_host->max_memory_pages;
  if (initial > cap) wasm_rt_trap(WASMBED_TRAP_NO_MEMORY);
  mem->data = initial ? wasmbed_host->memory(wasmbed_host, NULL, 0, initial * PAGE) : NULL;
  if (initial && !mem->data) wasm_rt_trap(WASMBED_TRAP_NO_MEMORY);
  mem->pages = initial;
  mem->max_pages = max < cap ? max : cap;
  mem->size = initial * PAGE;
}

uint32_t wasm_rt_grow_memory(wasm_rt_memory_t* mem, uint32_t delta) {
  uint32_t old = mem->pages;
  if (delta == 0) return old;
  if (delta > mem->max_pages - old) return UINT32_MAX;
  uint8_t* data = wasmbed_host->memory(wasmbed_host, mem->data, old * PAGE, (old + delta) * PAGE);
  if (!data) return UINT32_MAX;
  mem->data = data;
  mem->pages = old + delta;
  mem->size = mem->pages * PAGE;
  return old;
}

void wasm_rt_free_memory(wasm_rt_memory_t* mem) {
  if (mem->data) wasmbed_host->memory(wasmbed_host, mem->data, mem->size, 0);
  mem->data = NULL;
}

#define DEFINE_TABLE(type)                                                                   \
  void wasm_rt_allocate_##type##_table(wasm_rt_##type##_table_t* t, uint32_t n, uint32_t max) { \
    if (n > wasmbed_host->max_table_elements) wasm_rt_trap(WASMBED_TRAP_NO_MEMORY);          \
    t->data = wasmbed_host->alloc(wasmbed_host, n * sizeof(wasm_rt_##type##_t));             \
    if (n && !t->data) wasm_rt_trap(WASMBED_TRAP_NO_MEMORY);                                 \
    t->size = n;                                                                             \
    t->max_size = max < wasmbed_host->max_table_elements ? max : wasmbed_host->max_table_elements; \
  }                                                                                          \
  void wasm_rt_free_##type##_table(wasm_rt_##type##_table_t* t) {                            \
    if (t->data) wasmbed_host->release(wasmbed_host, t->data, t->size * sizeof(wasm_rt_##type##_t)); \
    t->data = NULL;                                                                          \
  }                                                                                          \
  uint32_t wasm_rt_grow_##type##_table(wasm_rt_##type##_table_t* t, uint32_t delta,          \
                                       wasm_rt_##type##_t init) {                            \
    uint32_t old = t->size;                                                                  \
    if (delta > t->max_size - old) return UINT32_MAX;                                        \
    if (delta == 0) return old;                                                              \
    wasm_rt_##type##_t* d = wasmbed_host->grow(wasmbed_host, t->data,                        \
                                               old * sizeof(wasm_rt_##type##_t),             \
                                               (old + delta) * sizeof(wasm_rt_##type##_t));  \
    if (!d) return UINT32_MAX;                                                               \
    for (uint32_t i = old; i < old + delta; i++) d[i] = init;                                \
    t->data = d;                                                                             \
    t->size = old + delta;                                                                   \
    return old;                                                                              \
  }
DEFINE_TABLE(funcref)
DEFINE_TABLE(externref)
