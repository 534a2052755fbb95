//! The direct JSON → XML conversion: tokens pulled from the received bytes
//! ([`super::json_cursor`]) written as XML straight into the output buffer, by the rules of
//! [`super::json_to_xml`] and byte for byte what the tree path (`Value`, then `Element`,
//! then `write_to`) writes.
//!
//! `Payload::to_bytes` takes this path when a raw JSON body leaves as XML. Its working
//! memory is the output and a stack as deep as the document, where the tree path held a
//! `Value` and an `Element` tree of many times the body (issue #12). What it cannot write
//! identically while streaming — a key repeated in one object (the last value wins, in the
//! first one's place), an `@attribute` after an element's content, an object or array as
//! an attribute's or `$`'s value — stops it, and the caller takes the tree path.

use std::borrow::Cow;
use std::collections::HashSet;
use std::str::FromStr;

use super::json_cursor::{JsonCursor, JsonStr, Refused, Token};
use super::{
    ConversionOptions, ConvertError, JSON_ARRAY, JSON_ELEMENT, JSON_OBJECT, XML_MULTIPLE,
    XSI_NAMESPACE, xml_name,
};
use crate::xml::{escape_attribute, escape_text};

/// Why the direct conversion stopped; the caller takes the tree path, which answers with
/// the converted document or the exact error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The cursor refused the body: malformed, or beyond what it reads.
    Refused,
    /// Valid JSON that only the tree path converts identically.
    Unsupported,
    /// A key that is no XML name (the tree path reports the first in its own order).
    Convert(ConvertError),
}

impl From<Refused> for Stop {
    fn from(_: Refused) -> Self {
        Stop::Refused
    }
}

impl From<ConvertError> for Stop {
    fn from(e: ConvertError) -> Self {
        Stop::Convert(e)
    }
}

/// Converts a JSON document to the XML the tree path would write for it.
pub fn json_to_xml_bytes(input: &[u8], options: &ConversionOptions) -> Result<Vec<u8>, Stop> {
    let mut cursor = JsonCursor::new(input)?;
    // Markup makes XML longer than its JSON; capacity not written is never touched.
    let mut conversion = Conversion {
        writer: XmlWriter::with_capacity(input.len() + input.len() / 2),
        frames: Vec::new(),
        spare_keys: Vec::new(),
        options,
    };
    match cursor.next_token()?.ok_or(Stop::Refused)? {
        Token::ArrayStart => {
            conversion.writer.open(JSON_ARRAY);
            conversion.array(JSON_ELEMENT.to_owned(), 1);
        }
        token => {
            conversion.writer.open(JSON_OBJECT);
            conversion.fill(token)?;
        }
    }
    while !conversion.frames.is_empty() {
        let token = cursor.next_token()?.ok_or(Stop::Refused)?;
        conversion.step(token, &mut cursor)?;
    }
    if cursor.next_token()?.is_some() {
        return Err(Stop::Refused);
    }
    Ok(conversion.writer.finish())
}

/// An open JSON container and how its end is written.
enum Frame<'a> {
    /// An object filling the innermost open element, with the keys it has had.
    Object(HashSet<Cow<'a, str>, foldhash::fast::RandomState>),
    /// An array whose items become elements named `name`; at its end `closes` open
    /// elements end with it (0 for an object member's array, whose items are the member's
    /// elements; 1 for the top-level `jsonArray`; 2 for an array inside an array: its
    /// `jsonArray` and the item holding it).
    Items { name: String, closes: u8 },
}

struct Conversion<'a, 'o> {
    writer: XmlWriter,
    frames: Vec<Frame<'a>>,
    /// Key sets of finished objects, kept for the next ones (cleared).
    spare_keys: Vec<HashSet<Cow<'a, str>, foldhash::fast::RandomState>>,
    options: &'o ConversionOptions,
}

impl<'a> Conversion<'a, '_> {
    /// Starts an array whose items become elements named `name`: `<?xml-multiple name?>`
    /// first, as `push_items` does.
    fn array(&mut self, name: String, closes: u8) {
        if self.options.xml_multiple_pi {
            self.writer.pi(XML_MULTIPLE, &name);
        }
        self.frames.push(Frame::Items { name, closes });
    }

    /// Writes `token`, the start of a value, as the content of the element just opened
    /// (`fill`); scalars close it at once, containers when they end.
    fn fill(&mut self, token: Token<'a>) -> Result<(), Stop> {
        match token {
            Token::Null => {
                if self.options.xml_nil {
                    self.writer.nil();
                }
            }
            Token::Bool(b) => self.writer.text(if b { "true" } else { "false" }),
            Token::Number(n) => self.writer.text(&number_text(n)?),
            Token::Str(s) if s.is_empty() => {}
            Token::Str(s) => self.writer.json_text(s),
            Token::ArrayStart => {
                // An array directly inside an array item: wrapped, as Synapse does.
                self.writer.open(JSON_ARRAY);
                self.array(JSON_ELEMENT.to_owned(), 2);
                return Ok(());
            }
            Token::ObjectStart => {
                let keys = self.spare_keys.pop().unwrap_or_default();
                self.frames.push(Frame::Object(keys));
                return Ok(());
            }
            Token::ObjectEnd | Token::ArrayEnd | Token::Key(_) => return Err(Stop::Refused),
        }
        self.writer.close();
        Ok(())
    }

    /// Handles the next token inside the innermost container.
    fn step(&mut self, token: Token<'a>, cursor: &mut JsonCursor<'a>) -> Result<(), Stop> {
        let Some(frame) = self.frames.last_mut() else {
            return Err(Stop::Refused);
        };
        match (frame, token) {
            (Frame::Items { closes, .. }, Token::ArrayEnd) => {
                let closes = *closes;
                self.frames.pop();
                for _ in 0..closes {
                    self.writer.close();
                }
            }
            (Frame::Items { name, .. }, token) => {
                self.writer.open(name);
                self.fill(token)?;
            }
            (Frame::Object(keys), Token::ObjectEnd) => {
                let mut keys = std::mem::take(keys);
                self.frames.pop();
                keys.clear();
                self.spare_keys.push(keys);
                self.writer.close();
            }
            (Frame::Object(keys), Token::Key(key)) => {
                let key = key.decoded();
                // A repeated key keeps its first place and its last value: only the tree
                // can do that.
                if !keys.insert(key.clone()) {
                    return Err(Stop::Unsupported);
                }
                let value = cursor.next_token()?.ok_or(Stop::Refused)?;
                self.member(&key, value)?;
            }
            (Frame::Object(_), _) => return Err(Stop::Refused),
        }
        Ok(())
    }

    /// One member of an object being written (`fill`'s object arm).
    fn member(&mut self, key: &str, value: Token<'a>) -> Result<(), Stop> {
        // The StAXON mapping convention: `@x` is an attribute, `$` the text.
        if let Some(attr) = key.strip_prefix('@').filter(|a| !a.is_empty()) {
            let name = xml_name(attr, self.options)?;
            return self.writer.attribute(&name, value);
        }
        if key == "$" {
            return match value {
                Token::Str(s) => {
                    self.writer.json_text(s);
                    Ok(())
                }
                Token::Null => {
                    self.writer.text("");
                    Ok(())
                }
                Token::Bool(b) => {
                    self.writer.text(if b { "true" } else { "false" });
                    Ok(())
                }
                Token::Number(n) => {
                    self.writer.text(&number_text(n)?);
                    Ok(())
                }
                _ => Err(Stop::Unsupported),
            };
        }
        let name = xml_name(key, self.options)?;
        if value == Token::ArrayStart {
            self.array(name, 0);
            Ok(())
        } else {
            self.writer.open(&name);
            self.fill(value)
        }
    }
}

/// A number as serde_json writes it after reading it: integers that fit 64 bits as
/// written, everything else through serde_json's own parse and print (`1E2` is `100.0`,
/// `-0` is `-0.0`, an integer past 64 bits a float).
fn number_text(raw: &str) -> Result<Cow<'_, str>, Stop> {
    let digits = raw.strip_prefix('-').unwrap_or(raw);
    if digits.len() <= 18 && digits.bytes().all(|b| b.is_ascii_digit()) && raw != "-0" {
        return Ok(Cow::Borrowed(raw));
    }
    let number = serde_json::Number::from_str(raw).map_err(|_| Stop::Refused)?;
    Ok(Cow::Owned(number.to_string()))
}

// === impl XmlWriter ===

/// Writes elements as `Element::write_to` does: the start tag stays open for attributes
/// until the first child, an element without children is written `<name/>`.
struct XmlWriter {
    out: Vec<u8>,
    /// The names of the open elements, one after the other.
    names: String,
    /// Open elements, innermost last: where its name starts in `names`, and whether its
    /// start tag still waits for its `>`.
    open: Vec<(usize, bool)>,
}

impl XmlWriter {
    fn with_capacity(capacity: usize) -> Self {
        XmlWriter {
            out: Vec::with_capacity(capacity),
            names: String::new(),
            open: Vec::new(),
        }
    }

    fn finish(self) -> Vec<u8> {
        self.out
    }

    /// Before a child node: ends the parent's start tag.
    fn child(&mut self) {
        if let Some((_, start_tag)) = self.open.last_mut()
            && *start_tag
        {
            self.out.push(b'>');
            *start_tag = false;
        }
    }

    fn open(&mut self, name: &str) {
        self.child();
        self.out.push(b'<');
        self.out.extend_from_slice(name.as_bytes());
        self.open.push((self.names.len(), true));
        self.names.push_str(name);
    }

    fn close(&mut self) {
        let Some((start, start_tag)) = self.open.pop() else {
            return;
        };
        if start_tag {
            self.out.extend_from_slice(b"/>");
        } else {
            self.out.extend_from_slice(b"</");
            self.out.extend_from_slice(&self.names.as_bytes()[start..]);
            self.out.push(b'>');
        }
        self.names.truncate(start);
    }

    /// `xsi:nil="true"` with the declaration of its prefix, on the element just opened.
    fn nil(&mut self) {
        self.out.extend_from_slice(b" xmlns:xsi=\"");
        escape_attribute(XSI_NAMESPACE, &mut self.out);
        self.out.extend_from_slice(b"\" xsi:nil=\"true\"");
    }

    /// An attribute with a scalar's text as its value; only while the start tag is open.
    fn attribute(&mut self, name: &str, value: Token<'_>) -> Result<(), Stop> {
        if !self.open.last().is_some_and(|(_, start_tag)| *start_tag) {
            return Err(Stop::Unsupported);
        }
        let number;
        let text = match value {
            Token::Str(s) => {
                self.out.push(b' ');
                self.out.extend_from_slice(name.as_bytes());
                self.out.extend_from_slice(b"=\"");
                s.for_each_chunk(|chunk| escape_attribute(chunk, &mut self.out));
                self.out.push(b'"');
                return Ok(());
            }
            Token::Null => "",
            Token::Bool(true) => "true",
            Token::Bool(false) => "false",
            Token::Number(n) => {
                number = number_text(n)?;
                &number
            }
            _ => return Err(Stop::Unsupported),
        };
        self.out.push(b' ');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"=\"");
        escape_attribute(text, &mut self.out);
        self.out.push(b'"');
        Ok(())
    }

    /// A text node (even an empty one makes the element `<a></a>`, as in the tree).
    fn text(&mut self, text: &str) {
        self.child();
        escape_text(text, &mut self.out);
    }

    /// A JSON string as a text node.
    fn json_text(&mut self, s: JsonStr<'_>) {
        self.child();
        s.for_each_chunk(|chunk| escape_text(chunk, &mut self.out));
    }

    fn pi(&mut self, target: &str, data: &str) {
        self.child();
        self.out.extend_from_slice(b"<?");
        self.out.extend_from_slice(target.as_bytes());
        if !data.is_empty() {
            self.out.push(b' ');
            self.out
                .extend_from_slice(data.replace("?>", "? >").as_bytes());
        }
        self.out.extend_from_slice(b"?>");
    }
}
