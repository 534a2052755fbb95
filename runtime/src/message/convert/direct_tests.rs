//! The direct conversions against the tree path: for every input the direct path
//! converts, the bytes must be the tree path's, byte for byte; what it refuses, the tree
//! path must refuse too or convert (the caller then takes it).

use serde_json::Value;

use super::json_cursor::{MAX_DEPTH, serde_verdict};
use super::json_out;
use super::xml_out::{Stop, json_to_xml_bytes};
use super::*;

// === fixtures ===

/// The option sets every input is converted with.
fn option_sets() -> Vec<ConversionOptions> {
    let nil = ConversionOptions {
        xml_nil: true,
        ..ConversionOptions::default()
    };
    let names = ConversionOptions {
        build_valid_nc_names: true,
        xml_multiple_pi: false,
        ..ConversionOptions::default()
    };
    let everything = ConversionOptions {
        preserve_namespace: true,
        namespace_declarations: true,
        namespace_separator: ':',
        empty_element_as_null: false,
        auto_array: false,
        auto_primitive: false,
        ..ConversionOptions::default()
    };
    let regex = ConversionOptions {
        disable_auto_primitive_regex: Regex::new("^0[0-9]+$").ok(),
        ..ConversionOptions::default()
    };
    vec![ConversionOptions::default(), nil, names, everything, regex]
}

/// The tree path: serde_json's `Value`, `json_to_xml`, `write_to`.
fn json_tree(input: &str, options: &ConversionOptions) -> Result<String, String> {
    let value: Value = serde_json::from_str(input).map_err(|e| format!("malformed JSON: {e}"))?;
    json_to_xml(&value, options)
        .map(|e| e.to_xml_string())
        .map_err(|e| e.to_string())
}

/// Asserts that the direct path writes what the tree path writes; returns whether the
/// direct path converted the input (rather than stopping).
fn same_xml(input: &str, options: &ConversionOptions) -> bool {
    let tree = json_tree(input, options);
    match json_to_xml_bytes(input.as_bytes(), options) {
        Ok(direct) => {
            let direct = String::from_utf8(direct).unwrap();
            assert_eq!(Ok(direct), tree, "input: {input}");
            true
        }
        Err(Stop::Refused) => {
            // A refusal is judged by serde_json: its error is the tree path's.
            if let Err(e) = serde_verdict(input.as_bytes()) {
                assert_eq!(tree, Err(format!("malformed JSON: {e}")), "input: {input}");
            }
            false
        }
        Err(Stop::Unsupported | Stop::Convert(_)) => false,
    }
}

fn direct_json_to_xml(input: &str) {
    for options in option_sets() {
        assert!(same_xml(input, &options), "stopped: {input}");
    }
}

/// A small deterministic generator (xorshift), so that failures repeat.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const KEYS: &[&str] = &[
    "a",
    "name",
    "id",
    "@id",
    "@lang",
    "$",
    "1st",
    "$ref",
    "x-y",
    "a.b",
    "ünï",
    "日本",
    "_u",
    "with space",
    "",
    "@",
    "a:b",
    "-x",
    "é\u{301}",
    "k\"q",
    "ns:x",
    "@n\\t",
];

const STRINGS: &[&str] = &[
    "",
    "plain",
    "<&>\"'",
    "line\nbreak\r\n",
    "tab\t",
    "\u{0}",
    "\u{1F600}",
    "ü",
    "]]>",
    "\\u00e9",
    "  spaced  ",
    "12",
    "true",
    "null",
    "a\u{2028}b",
    "?>",
];

const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "7",
    "-12",
    "1.5",
    "1e3",
    "1E-7",
    "-2.5e+10",
    "123456789012345678",
    "1234567890123456789",
    "12345678901234567890",
    "-9223372036854775808",
    "-9223372036854775809",
    "99999999999999999999999",
    "0.1",
    "1e308",
    "5e-324",
    "1.0",
];

fn gen_value(rng: &mut Rng, depth: usize, out: &mut String) {
    let choice = if depth > 5 {
        rng.below(5)
    } else {
        rng.below(9)
    };
    match choice {
        0 => out.push_str("null"),
        1 => out.push_str(rng.pick(&["true", "false"])),
        2 => out.push_str(rng.pick(NUMBERS)),
        3 | 4 => gen_string(rng, out),
        5 | 6 => {
            out.push('{');
            for i in 0..rng.below(5) {
                if i > 0 {
                    out.push(',');
                }
                blanks(rng, out);
                gen_key(rng, out);
                out.push(':');
                blanks(rng, out);
                gen_value(rng, depth + 1, out);
            }
            out.push('}');
        }
        _ => {
            out.push('[');
            for i in 0..rng.below(4) {
                if i > 0 {
                    out.push(',');
                }
                blanks(rng, out);
                gen_value(rng, depth + 1, out);
            }
            out.push(']');
        }
    }
}

fn gen_key(rng: &mut Rng, out: &mut String) {
    let key = rng.pick(KEYS);
    if rng.below(4) == 0 {
        // The same key written with escapes.
        out.push('"');
        for c in key.chars() {
            out.push_str(&format!("\\u{:04x}", u32::from(c) & 0xFFFF));
        }
        out.push('"');
    } else {
        out.push_str(&serde_json::to_string(key).unwrap());
    }
}

fn gen_string(rng: &mut Rng, out: &mut String) {
    let s = rng.pick(STRINGS);
    match rng.below(3) {
        0 => out.push_str(&serde_json::to_string(s).unwrap()),
        1 => {
            out.push('"');
            for c in s.chars() {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04X}"));
                }
            }
            out.push('"');
        }
        _ => out.push_str(&serde_json::to_string(s).unwrap().replace('/', "\\/")),
    }
}

fn blanks(rng: &mut Rng, out: &mut String) {
    out.push_str(rng.pick(&["", "", " ", "\n  ", "\t", "\r\n"]));
}

// === JSON -> XML ===

#[test]
fn the_direct_path_writes_what_the_tree_path_writes_for_plain_documents() {
    for input in [
        r#"{"name":"Ann","age":41,"vip":true,"none":null}"#,
        r#"{"order":{"id":7,"customer":{"name":"Bo"},"items":["tea",{"sku":1},[1,[2,[]]],[]]}}"#,
        r#"[1,"two",null,true,{"a":[]},[[]],[[1,2],[3]]]"#,
        "[]",
        "{}",
        r#"{"a":{}}"#,
        r#"{"a":[]}"#,
        r#"{"a":[{}]}"#,
        r#""just a string""#,
        r#""""#,
        "42",
        "-0",
        "null",
        "true",
        r#"{"e":"\u00e9\ud83d\ude00\n\t\"\\\/<&>]]>","k\u00e9y":1}"#,
        r#"{"n":[0,-1,1.5,1E2,-2.5e-3,12345678901234567890,-9223372036854775809,1.0]}"#,
        r#"{"1st":1,"$ref":"x","_u":2,"ünï":3,"日本":4}"#,
        r#"{"a":{"@id":"7","@lang":"en","$":"text"}}"#,
        r#"{"a":{"@id":7,"@b":true,"@n":null,"@q":"<\"&\t\n>","x":1}}"#,
        r#"{"a":{"$":""}}"#,
        r#"{"a":{"$":null}}"#,
        r#"{"a":{"$":1,"b":2,"$x":3}}"#,
        "  {\n  \"a\" : [ 1 , 2 ] \r\n }\t ",
    ] {
        direct_json_to_xml(input);
    }
}

#[test]
fn keys_that_are_no_xml_names_stop_the_direct_path_with_the_tree_paths_verdict() {
    let strict = ConversionOptions::default();
    for input in [r#"{"with space":1}"#, r#"{"":1}"#, r#"{"a":{"@x y":1}}"#] {
        assert!(matches!(
            json_to_xml_bytes(input.as_bytes(), &strict),
            Err(Stop::Convert(_))
        ));
        assert!(json_tree(input, &strict).is_err());
    }
    // With buildValidNCNames the same keys are written with their code points.
    let lenient = ConversionOptions {
        build_valid_nc_names: true,
        ..ConversionOptions::default()
    };
    assert!(same_xml(r#"{"with space":{"a b":[1]}}"#, &lenient));
    assert!(same_xml(r#"{"@":1,"a":{"@":2}}"#, &lenient));
}

#[test]
fn what_only_the_tree_can_write_stops_the_direct_path() {
    for input in [
        // A repeated key: the last value, in the first key's place.
        r#"{"a":1,"b":2,"a":3}"#,
        r#"{"a":1,"\u0061":3}"#,
        // An attribute after content.
        r#"{"a":{"b":1,"@id":"x"}}"#,
        // Containers as attribute or text values (written as JSON text).
        r#"{"a":{"@id":{"k":1}}}"#,
        r#"{"a":{"$":[1,2]}}"#,
    ] {
        let options = ConversionOptions::default();
        assert!(
            matches!(
                json_to_xml_bytes(input.as_bytes(), &options),
                Err(Stop::Unsupported)
            ),
            "{input}"
        );
        assert!(json_tree(input, &options).is_ok());
    }
}

#[test]
fn malformed_json_is_refused_and_serde_json_names_the_same_error() {
    for input in [
        "",
        " ",
        "{",
        r#"{"a":"#,
        r#"{"a" 1}"#,
        r#"{"a":1,}"#,
        "[1,]",
        "[1 2]",
        "01",
        "1.",
        ".5",
        "1e",
        "-",
        "+1",
        "tru",
        "nul",
        "\"\\x\"",
        "\"\\u12\"",
        "\"a\u{1}\"",
        "\"unterminated",
        "{} {}",
        "[]]",
        "{\"a\":1}}",
        "\u{feff}{}",
        "[1e400]",
        "{'a':1}",
        "NaN",
    ] {
        assert_eq!(
            json_to_xml_bytes(input.as_bytes(), &ConversionOptions::default()),
            Err(Stop::Refused),
            "{input:?}"
        );
        let verdict = serde_verdict(input.as_bytes()).expect_err(input);
        let tree = serde_json::from_str::<Value>(input).expect_err(input);
        assert_eq!(verdict.to_string(), tree.to_string(), "{input:?}");
    }
    // Not UTF-8.
    let bytes = b"{\"a\":\"\xff\"}";
    assert_eq!(
        json_to_xml_bytes(bytes, &ConversionOptions::default()),
        Err(Stop::Refused)
    );
    assert_eq!(
        serde_verdict(bytes).unwrap_err().to_string(),
        serde_json::from_slice::<Value>(bytes)
            .unwrap_err()
            .to_string()
    );
}

#[test]
fn the_direct_path_reads_as_deep_as_serde_json_and_no_deeper() {
    for depth in [MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, MAX_DEPTH + 2] {
        for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
            let input = format!("{}1{}", open.repeat(depth), close.repeat(depth));
            let options = ConversionOptions::default();
            let converted = same_xml(&input, &options);
            assert_eq!(converted, depth <= MAX_DEPTH, "depth {depth}");
            assert_eq!(serde_verdict(input.as_bytes()).is_ok(), depth <= MAX_DEPTH);
        }
    }
}

#[test]
fn a_hundred_thousand_levels_are_refused_cleanly_on_a_default_stack() {
    // 2 MiB: the stack of a spawned thread, smaller than the main thread's.
    let handle = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            let depth = 100_000;
            let input = format!("{}{}", "[{\"a\":".repeat(depth), "}]".repeat(depth));
            let options = ConversionOptions::default();
            let direct = json_to_xml_bytes(input.as_bytes(), &options);
            let verdict = serde_verdict(input.as_bytes()).map_err(|e| e.to_string());
            (direct, verdict)
        })
        .unwrap();
    let (direct, verdict) = handle.join().unwrap();
    assert_eq!(direct, Err(Stop::Refused));
    assert!(verdict.unwrap_err().contains("recursion limit"));
}

#[test]
fn the_direct_path_writes_what_the_tree_path_writes_for_generated_documents() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let options = option_sets();
    let mut converted = 0;
    for _ in 0..4000 {
        let mut input = String::new();
        blanks(&mut rng, &mut input);
        gen_value(&mut rng, 0, &mut input);
        blanks(&mut rng, &mut input);
        for o in &options {
            if same_xml(&input, o) {
                converted += 1;
            }
        }
    }
    // Most documents take the direct path (the rest repeat a key, or have a key that is
    // no XML name without buildValidNCNames).
    assert!(converted > 8000, "{converted}");
}

// === XML -> JSON ===

/// The tree path: `Element::parse`, `xml_to_json`, `serde_json::to_vec`.
fn xml_tree(input: &[u8], options: &ConversionOptions) -> Result<String, String> {
    let element = crate::xml::parse(input).map_err(|e| e.to_string())?;
    Ok(serde_json::to_string(&xml_to_json(&element, options)).unwrap())
}

/// Asserts that the direct path writes what the tree path writes, or leaves to the tree
/// path exactly what the tree parser refuses; returns whether it converted.
fn same_json(input: &str, options: &ConversionOptions) -> bool {
    let tree = xml_tree(input.as_bytes(), options);
    match json_out::xml_to_json_bytes(input.as_bytes(), options) {
        Some(direct) => {
            let direct = String::from_utf8(direct).unwrap();
            assert_eq!(Ok(direct), tree, "input: {input}");
            true
        }
        None => {
            assert!(tree.is_err(), "the direct path stopped on {input}");
            false
        }
    }
}

fn direct_xml_to_json(input: &str) {
    for options in option_sets() {
        assert!(same_json(input, &options), "stopped: {input}");
    }
}

#[test]
fn the_direct_path_writes_what_the_tree_path_writes_for_xml_documents() {
    for input in [
        "<order><id>7</id><item>tea</item><item>pen</item></order>",
        "<jsonObject/>",
        "<jsonObject></jsonObject>",
        "<jsonObject><!-- c --></jsonObject>",
        "<jsonObject> </jsonObject>",
        "<jsonObject><a>1</a><b/><c></c><a>2</a></jsonObject>",
        "<jsonArray/>",
        "<jsonArray><?xml-multiple jsonElement?><jsonElement>1</jsonElement></jsonArray>",
        "<jsonArray><jsonElement><jsonArray><jsonElement>1</jsonElement></jsonArray></jsonElement></jsonArray>",
        "<jsonObject><?xml-multiple a?></jsonObject>",
        "<jsonObject><?xml-multiple?><a>1</a><a>2</a><b>3</b></jsonObject>",
        "<jsonObject><?xml-multiple _JsonReader_PD_1a?><_JsonReader_PD_1a>x</_JsonReader_PD_1a></jsonObject>",
        "<r><_JsonReader_PS_ref>1</_JsonReader_PS_ref><a_JsonReader_32_b>2</a_JsonReader_32_b><_JsonReader_36_>3</_JsonReader_36_></r>",
        "<r a=\"1\" b=\"x &amp; y\"><_JsonReader_64_a>2</_JsonReader_64_a>text</r>",
        "<r a=\"1\">text</r>",
        "<r a=\"1\"/>",
        "<r>mixed <b>bold</b> and <![CDATA[ <raw> ]]> &amp; more </r>",
        "<r>1 &lt; 2 &amp;&amp; &#x42;&#65;\r\nline\rnext</r>",
        "<r><![CDATA[a\r\nb]]>c&#13;</r>",
        "<r>  12  </r>",
        "<r>012</r>",
        "<r>-0.5e3</r>",
        "<r>true</r>",
        "<r>null</r>",
        "<r>12345678901234567890123</r>",
        "<r>\u{1F600} ü \"quoted\" \\ \u{7}</r>",
        r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:d"><soap:Body><m:order xmlns:m="urn:m" m:id="7" id="8"><item>tea</item></m:order></soap:Body></soap:Envelope>"#,
        r#"<jsonObject xmlns="urn:x"><a>1</a></jsonObject>"#,
        r#"<jsonObject xmlns="urn:x"/>"#,
        r#"<jsonObject xmlns=""><a>1</a></jsonObject>"#,
        r#"<r xmlns:p="urn:p"><p:a>1</p:a><a>2</a><p:a>3</p:a></r>"#,
        r#"<r><jsonArray><jsonElement>1</jsonElement></jsonArray></r>"#,
        r#"<r><jsonArray xmlns="urn:x"><jsonElement>1</jsonElement></jsonArray></r>"#,
        r#"<r>t<jsonArray><jsonElement>1</jsonElement></jsonArray></r>"#,
        r#"<r xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><a xsi:nil="true"/><b nil="true"/><c xsi:nil="false">x</c></r>"#,
        r#"<r xml:lang="en"><xml:a>1</xml:a></r>"#,
        "<?xml version=\"1.0\"?>\n<!-- before --><!DOCTYPE r><r><?other data?>x</r><!-- after -->\n",
        "\u{feff}<r/>",
        "<r a='&#10;&#9;v\tw\nx'/>",
        "<r><a/><a/><a>1</a></r>",
        "<r><a>1</a><b>2</b><a>3</a><c/><b>4</b></r>",
    ] {
        direct_xml_to_json(input);
    }
}

#[test]
fn an_element_with_many_child_names_groups_them_by_name() {
    let mut input = String::from("<r>");
    for i in 0..200 {
        input.push_str(&format!("<k{}>{i}</k{}>", i % 70, i % 70));
    }
    input.push_str("</r>");
    direct_xml_to_json(&input);
}

#[test]
fn malformed_xml_is_left_to_the_tree_parser() {
    for input in [
        "",
        "text",
        "<a><b></a>",
        "<a>",
        "<a/><b/>",
        "<a/>text",
        "<a/>&#65;",
        "<![CDATA[x]]><a/>",
        "<a b='1' b='2'/>",
        "<a p:b='1'/>",
        "<p:a/>",
        "<a>&unknown;</a>",
        "<a>&#0;</a>",
        r#"<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>"#,
        "<a b=1/>",
        "<1a/>",
        "<a xmlns:p='urn:p' xmlns:q='urn:p' p:x='1' q:x='2'/>",
    ] {
        for options in option_sets() {
            same_json(input, &options);
        }
        assert!(
            json_out::xml_to_json_bytes(input.as_bytes(), &ConversionOptions::default()).is_none()
                == xml_tree(input.as_bytes(), &ConversionOptions::default()).is_err(),
            "{input}"
        );
    }
    assert!(json_out::xml_to_json_bytes(b"<a>\xff</a>", &ConversionOptions::default()).is_none());
}

#[test]
fn the_xml_depth_limit_is_the_tree_parsers() {
    use crate::xml::MAX_DEPTH;
    for depth in [MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1] {
        let input = format!("{}1{}", "<a>".repeat(depth), "</a>".repeat(depth));
        let converted = same_json(&input, &ConversionOptions::default());
        assert_eq!(converted, depth <= MAX_DEPTH, "depth {depth}");
    }
    let handle = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            let depth = 100_000;
            let input = format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth));
            json_out::xml_to_json_bytes(input.as_bytes(), &ConversionOptions::default())
        })
        .unwrap();
    assert!(handle.join().unwrap().is_none());
}

/// JSON converted by the tree path, then back by both: documents as MI writes them.
#[test]
fn the_direct_path_writes_what_the_tree_path_writes_for_generated_xml() {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let options = option_sets();
    let mut converted = 0;
    for _ in 0..3000 {
        let mut input = String::new();
        gen_value(&mut rng, 0, &mut input);
        for o in &options {
            let Ok(xml) = json_tree(&input, o) else {
                continue;
            };
            // With some blanks and comments between the elements.
            let xml = match rng.below(3) {
                0 => xml.replace("><", ">\n  <"),
                1 => xml.replace("</", "<!--c--></"),
                _ => xml,
            };
            if same_json(&xml, o) {
                converted += 1;
            }
        }
    }
    assert!(converted > 8000, "{converted}");
}

#[test]
fn a_skeleton_node_is_16_bytes_and_a_tree_node_no_longer_holds_an_element() {
    assert_eq!(std::mem::size_of::<crate::xml::skeleton::Node>(), 16);
    // A text node used to be as large as an element (144 bytes).
    assert!(std::mem::size_of::<crate::xml::Node>() <= 48);
}

/// A document with a few bytes changed: deleted, inserted (structural characters mostly),
/// or a slice repeated.
fn mutate(rng: &mut Rng, doc: &str) -> String {
    const PIECES: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\"",
        "\\",
        "<",
        ">",
        "/",
        "&",
        ";",
        "=",
        "'",
        "?",
        "!",
        "-",
        "e",
        "0",
        " ",
        "\r",
        "\u{e9}",
        "xmlns",
        "xml-multiple",
        "&#",
        "<![CDATA[",
        "]]>",
        "<!--",
        "-->",
        "\\u",
        "d800",
    ];
    let mut bytes = doc.as_bytes().to_vec();
    for _ in 0..=rng.below(3) {
        let at = rng.below(bytes.len() as u64 + 1) as usize;
        match rng.below(3) {
            0 if at < bytes.len() => {
                bytes.remove(at);
            }
            1 => {
                let piece = rng.pick(PIECES).as_bytes();
                bytes.splice(at..at, piece.iter().copied());
            }
            _ => {
                let end = (at + rng.below(12) as usize).min(bytes.len());
                let slice = bytes[at..end].to_vec();
                bytes.splice(at..at, slice);
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn mutated_documents_are_converted_alike_or_refused_alike() {
    let rounds = std::env::var("FERRY_MUTATION_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1500);
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let options = option_sets();
    for _ in 0..rounds {
        let mut json = String::new();
        gen_value(&mut rng, 0, &mut json);
        let o = &options[rng.below(options.len() as u64) as usize];
        let mutated = mutate(&mut rng, &json);
        same_xml(&mutated, o);
        let Ok(xml) = json_tree(&json, o) else {
            continue;
        };
        let mutated = mutate(&mut rng, &xml);
        same_json(&mutated, o);
    }
}
