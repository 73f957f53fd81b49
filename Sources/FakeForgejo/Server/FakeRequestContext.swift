import Hummingbird

/// Request context carrying the one fault that must act inside a handler rather than around it.
struct FakeRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    /// Set by `FaultMiddleware` for the `no_refresh_token` fault.
    var omitRefreshToken = false

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
    }
}
