// axTLS's allocations taken from the MicroPython GC heap, as the ESP8266 port does for it (its
// posix_helpers.c puts malloc, calloc, realloc and free on gc_alloc, gc_realloc and gc_free): on the chip every byte
// of TLS comes out of the 38,912-byte heap. axTLS is compiled with -Dmalloc=axtls_gc_malloc and the same for calloc,
// realloc and free (docs/mqtt.md, "TLS"), so only its calls come here and the unix port's libc is left alone.
//
// Instrumentation for measuring (module `tlsheap`): after each axTLS allocation the GC heap's free bytes
// are read (gc_info), and the least seen, with the largest free block at that moment, is kept; so are the
// bytes axTLS allocated and has not freed since reset(), their peak, and its largest single allocation.
// (Some blocks axTLS never frees itself: the collector takes them back once nothing points to them.)
#include <errno.h>
#include "py/gc.h"
#include "py/runtime.h"

static size_t least_free = (size_t)-1, least_max_free_block, largest, allocs;
// signed: a block allocated before reset() may be freed after it
static mp_int_t held, peak_held;

static void note(void *p, size_t was) {
    size_t now = p ? gc_nbytes(p) : 0;
    held += (mp_int_t)now - (mp_int_t)was;
    if (held > peak_held) {
        peak_held = held;
    }
    if (now > largest) {
        largest = now;
    }
    if (now > was) {
        gc_info_t info;
        gc_info(&info);
        allocs++;
        if (info.free < least_free) {
            least_free = info.free;
            least_max_free_block = info.max_free * MICROPY_BYTES_PER_GC_BLOCK;
        }
    }
}

void *axtls_gc_malloc(size_t n) {
    void *p = gc_alloc(n, 0);
    if (p == NULL) {
        errno = ENOMEM;
    }
    note(p, 0);
    return p;
}

void *axtls_gc_calloc(size_t count, size_t size) {
    // gc_alloc zeroes what it hands out (MICROPY_GC_CONSERVATIVE_CLEAR), as calloc must
    return axtls_gc_malloc(count * size);
}

void *axtls_gc_realloc(void *p, size_t n) {
    size_t was = p ? gc_nbytes(p) : 0;
    void *q = gc_realloc(p, n, true);
    if (q == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    note(q, was);
    return q;
}

void axtls_gc_free(void *p) {
    if (p != NULL) {
        held -= (mp_int_t)gc_nbytes(p);
        gc_free(p);
    }
}

// tlsheap.reset(): start a new measurement from the heap as it is now.
static mp_obj_t tlsheap_reset(void) {
    gc_info_t info;
    gc_info(&info);
    least_free = info.free;
    least_max_free_block = info.max_free * MICROPY_BYTES_PER_GC_BLOCK;
    held = peak_held = largest = 0;
    allocs = 0;
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_0(tlsheap_reset_obj, tlsheap_reset);

// tlsheap.stats(): (least free, largest free block then, bytes axTLS allocated and has not freed, their
// peak, its largest allocation, allocations) since reset().
static mp_obj_t tlsheap_stats(void) {
    mp_obj_t items[6] = {
        mp_obj_new_int_from_uint(least_free), mp_obj_new_int_from_uint(least_max_free_block),
        mp_obj_new_int(held), mp_obj_new_int(peak_held),
        mp_obj_new_int_from_uint(largest), mp_obj_new_int_from_uint(allocs),
    };
    return mp_obj_new_tuple(6, items);
}
static MP_DEFINE_CONST_FUN_OBJ_0(tlsheap_stats_obj, tlsheap_stats);

static const mp_rom_map_elem_t tlsheap_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_tlsheap) },
    { MP_ROM_QSTR(MP_QSTR_reset), MP_ROM_PTR(&tlsheap_reset_obj) },
    { MP_ROM_QSTR(MP_QSTR_stats), MP_ROM_PTR(&tlsheap_stats_obj) },
};
static MP_DEFINE_CONST_DICT(tlsheap_globals, tlsheap_globals_table);

const mp_obj_module_t tlsheap_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&tlsheap_globals,
};

MP_REGISTER_MODULE(MP_QSTR_tlsheap, tlsheap_module);
