extension OAuthParameters.Problem {
    /// The OAuth error an endpoint answers with (the parser itself lives in BrokerWire, which
    /// knows nothing of OAuth responses).
    var oauthError: OAuthError { .invalidRequest(reason, message) }
}
