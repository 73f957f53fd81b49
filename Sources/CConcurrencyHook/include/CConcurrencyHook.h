#ifndef FJMCP_CCONCURRENCYHOOK_H
#define FJMCP_CCONCURRENCYHOOK_H

/// Where the Swift runtime keeps its `swift_task_enqueueGlobal_hook` (see
/// ConcurrencyOnEventLoops.swift). Resolved when the binary is linked, so it is found in a
/// static-stdlib build too, where the runtime's symbols are hidden from `dlsym`.
void *_Nullable *_Nonnull fjmcp_enqueue_global_hook_slot(void);

#endif
