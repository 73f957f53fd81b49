#include "CConcurrencyHook.h"

/// Defined by libswift_Concurrency (a shared library, or linked in with --static-swift-stdlib).
extern void *swift_task_enqueueGlobal_hook;

void *_Nullable *_Nonnull fjmcp_enqueue_global_hook_slot(void) {
    return &swift_task_enqueueGlobal_hook;
}
