/* The exported interposers, generated from interpose.def: each forwards to its hook. */
#include "poolshim/hooks.h"
#include "poolshim/real.h"

#define PS_EXPORT __attribute__((visibility("default")))

#define PS_HOOK(ret, name, params, args)                                                           \
    PS_EXPORT ret name params                                                                      \
    {                                                                                              \
        if (ps_depth == 0)                                                                         \
            ps_caller = __builtin_return_address(0);                                               \
        return ps_hook_##name args;                                                                \
    }
#include "poolshim/interpose.def"
#undef PS_HOOK
