/// The pure wire parsers (JSON-RPC scanning, OAuth form and query parsing, redirect URI rules,
/// bearer and cookie parsing, 2026-07-28 request checks) live in `BrokerWire`, a module without
/// NIO, Hummingbird or GRDB, so the libFuzzer build (scripts/fuzz.sh) compiles them in seconds.
/// Re-exported here so every BrokerKit file, and every module importing BrokerKit, sees them
/// as before.
@_exported import BrokerWire
