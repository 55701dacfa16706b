//! Field paths as callers write them (`items[2].name`) and as JSON Pointers
//! (`/items/2/name`, RFC 6901), for dialects that carry pointers.

/// Converts a field path (`items[2].name`) to a JSON Pointer (`/items/2/name`).
///
/// ```
/// assert_eq!(tollgate::field_to_pointer("items[2].name"), "/items/2/name");
/// assert_eq!(tollgate::field_to_pointer("a/b~c"), "/a~1b~0c");
/// assert_eq!(tollgate::field_to_pointer(""), "");
/// ```
pub fn field_to_pointer(field: &str) -> String {
    let mut out = String::with_capacity(field.len() + 2);
    for_each_pointer_piece(field, |piece| out.push_str(piece));
    out
}

/// Calls `write` with the pieces of the JSON Pointer for `field`, in order
/// (`/`, segments, `~0`, `~1`): the pointer without building it.
pub(crate) fn for_each_pointer_piece(field: &str, mut write: impl FnMut(&str)) {
    for segment in field.split(['.', '[', ']']).filter(|s| !s.is_empty()) {
        write("/");
        let mut rest = segment;
        while let Some(i) = rest.find(['~', '/']) {
            let (text, special) = rest.split_at(i);
            write(text);
            write(if special.starts_with('~') { "~0" } else { "~1" });
            rest = special.get(1..).unwrap_or_default();
        }
        write(rest);
    }
}

/// Converts a JSON Pointer (`/items/2/name`) back to a field path
/// (`items[2].name`); all-digit segments become indices, the first too (a
/// body that is an array: `[0].name`).
///
/// ```
/// assert_eq!(tollgate::pointer_to_field("/items/2/name"), "items[2].name");
/// assert_eq!(tollgate::pointer_to_field("/0/name"), "[0].name");
/// assert_eq!(tollgate::pointer_to_field("/a~1b~0c"), "a/b~c");
/// assert_eq!(tollgate::pointer_to_field("#/x"), "x");
/// ```
pub fn pointer_to_field(pointer: &str) -> String {
    let pointer = pointer.strip_prefix('#').unwrap_or(pointer);
    let mut out = String::with_capacity(pointer.len());
    for segment in pointer.split('/').filter(|s| !s.is_empty()) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        if segment.bytes().all(|b| b.is_ascii_digit()) {
            out.push('[');
            out.push_str(&segment);
            out.push(']');
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&segment);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The pointer as it was built before it could be written piece by piece.
    fn reference_pointer(field: &str) -> String {
        let mut out = String::new();
        for segment in field.split(['.', '[', ']']).filter(|s| !s.is_empty()) {
            out.push('/');
            out.push_str(&segment.replace('~', "~0").replace('/', "~1"));
        }
        out
    }

    #[test]
    fn pointers_escape_tilde_and_slash() {
        for field in [
            "", "a", "a.b[0]", "~", "/", "a~/b", "~~//", "..[[]]..", "é/ü~", "x[0][1]",
        ] {
            assert_eq!(field_to_pointer(field), reference_pointer(field), "{field}");
        }
    }

    proptest! {
        #[test]
        fn paths_survive_a_round_trip(
            head in prop_oneof![
                "[a-z_][a-z0-9_]{0,8}",
                (0u32..100).prop_map(|i| format!("[{i}]")),
            ],
            rest in proptest::collection::vec(prop_oneof![
                "[a-z_][a-z0-9_]{0,8}".prop_map(|s| format!(".{s}")),
                (0u32..100).prop_map(|i| format!("[{i}]")),
            ], 0..4),
        ) {
            let field = format!("{head}{}", rest.concat());
            prop_assert_eq!(pointer_to_field(&field_to_pointer(&field)), field);
        }

        #[test]
        fn any_field_gives_the_pointer_it_always_gave(field in "[a-z~/.\\[\\]é]{0,12}") {
            prop_assert_eq!(field_to_pointer(&field), reference_pointer(&field));
        }
    }
}
