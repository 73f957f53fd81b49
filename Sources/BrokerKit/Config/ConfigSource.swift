import Foundation

/// Raw setting values gathered from the environment, `*_FILE` secrets and command-line flags,
/// before any validation. Flags win over the environment so an operator can override one value
/// of a deployed env file from the command line.
public struct ConfigSource: Sendable {
    public private(set) var values: [String: String] = [:]
    /// Problems found while gathering (unknown flags, unreadable secret files); reported together
    /// with validation problems so the operator sees everything in one run.
    public private(set) var problems: [String] = []

    public init(environment: [String: String], arguments: [String] = [], settings: [Setting] = Setting.all) {
        let byFlag = Dictionary(uniqueKeysWithValues: settings.map { ($0.flag, $0) })
        for setting in settings {
            if let value = environment[setting.env] {
                values[setting.env] = value
            }
            if setting.isSecret, let path = environment[setting.fileEnv] {
                if environment[setting.env] != nil {
                    problems.append("\(setting.env) and \(setting.fileEnv) are both set; use one")
                } else {
                    readSecretFile(path, for: setting)
                }
            }
        }
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            var name = argument
            var inlineValue: String?
            if let equals = argument.firstIndex(of: "=") {
                name = String(argument[..<equals])
                inlineValue = String(argument[argument.index(after: equals)...])
            }
            // A setting whose own name ends in -file (--static-clients-file) is not a secret's file flag.
            let isFileFlag = byFlag[name] == nil && name.hasSuffix("-file")
            let baseName = isFileFlag ? String(name.dropLast("-file".count)) : name
            guard let setting = byFlag[baseName], !isFileFlag || setting.isSecret else {
                problems.append("unknown option \(name)")
                continue
            }
            if setting.isSecret && !isFileFlag {
                // A value on the command line is visible to every local user in /proc/*/cmdline.
                problems.append("\(name) would expose a secret in the process list; use \(name)-file or \(setting.env)")
                if inlineValue == nil, index < arguments.count { index += 1 }
                continue
            }
            let value: String
            if let inlineValue {
                value = inlineValue
            } else if index < arguments.count {
                value = arguments[index]
                index += 1
            } else {
                problems.append("option \(name) needs a value")
                continue
            }
            if isFileFlag {
                readSecretFile(value, for: setting)
            } else {
                values[setting.env] = value
            }
        }
    }

    private mutating func readSecretFile(_ path: String, for setting: Setting) {
        if setting == .secretKey || setting == .secretKeyPrevious {
            // The master key protects every sealed Forgejo token: refuse a file others can read.
            do throws(SecretKeyStore.Failure) {
                values[setting.env] = Base64URL.encode(try SecretKeyStore.read(path))
            } catch {
                problems.append("\(setting.fileEnv): \(error)")
            }
            return
        }
        do {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            values[setting.env] = text.trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            problems.append("\(setting.fileEnv): cannot read \(path)")
        }
    }

    public func value(_ setting: Setting) -> String? {
        values[setting.env] ?? setting.defaultValue
    }

    public func isExplicit(_ setting: Setting) -> Bool {
        values[setting.env] != nil
    }
}
