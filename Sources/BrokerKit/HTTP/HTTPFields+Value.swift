import HTTPTypes

extension HTTPFields {
    /// The field's value exactly as `self[name]` gives it, without that getter's cost in the
    /// common case of a field sent once: it joins every value through a lazy map, which showed
    /// up at several µs per request across the header reads of the `/mcp` hot path.
    func value(_ name: HTTPField.Name) -> String? {
        guard let first = firstIndex(where: { $0.name == name }) else { return nil }
        guard self[index(after: first)...].contains(where: { $0.name == name }) else { return self[first].value }
        return self[name]
    }

    /// `self[field.name] = field.value` for a field built beforehand: appended when absent (the
    /// common case, one search), otherwise every field of that name is replaced by it. Not for
    /// `Cookie`, which the setter splits into one field per pair.
    mutating func replaceOrAppend(_ field: HTTPField) {
        if contains(field.name) {
            self[field.name] = field.value
        } else {
            append(field)
        }
    }
}
