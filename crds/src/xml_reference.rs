//! XML character references, as every XML reader here resolves them.

/// Resolves a predefined entity (`lt`, `gt`, `amp`, `apos`, `quot`) or a character reference
/// (`#65`, `#x41`) named without its `&` and `;`. Anything else is unknown: no DTD is read, so
/// no other entity is declared.
pub fn resolve_reference(name: &str) -> Option<char> {
    match name {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "apos" => Some('\''),
        "quot" => Some('"'),
        _ => {
            let num = name.strip_prefix('#')?;
            let code = match num.strip_prefix('x') {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => num.parse().ok()?,
            };
            char::from_u32(code).filter(|c| *c != '\0')
        }
    }
}

#[cfg(test)]
mod tests {
    use super::resolve_reference;

    #[test]
    fn predefined_entities_and_character_references_resolve_and_nothing_else() {
        assert_eq!(resolve_reference("amp"), Some('&'));
        assert_eq!(resolve_reference("#65"), Some('A'));
        assert_eq!(resolve_reference("#x41"), Some('A'));
        assert_eq!(resolve_reference("#0"), None);
        assert_eq!(resolve_reference("nbsp"), None);
        assert_eq!(resolve_reference("#xZZ"), None);
    }
}
