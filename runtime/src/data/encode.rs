//! Rows into an answer, as JSON or XML, a row at a time so a large result streams (MI's
//! `<result element rowName>` with its column mappings).
//!
//! JSON: with an element, `{"doctors": {"doctor": [{...}, ...]}}` (MI's shape); without,
//! a plain array `[{...}, ...]`; `single` answers the first row's object. XML: `<doctors>`
//! (default `<results>`) holding one `<doctor>` per row, a column per child element, NULL
//! as `xsi:nil="true"`.

use ferry_api::resources::QueryResult;
use serde_json::Value;

use super::error::DataError;

/// The answer's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/json`.
    Json,
    /// `application/xml`.
    Xml,
}

impl Format {
    /// The content type of answers in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Xml => "application/xml",
        }
    }
}

const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// Writes one result, row by row.
#[derive(Debug)]
pub struct Encoder {
    format: Format,
    element: Option<String>,
    row_name: String,
    namespace: Option<String>,
    single: bool,
    mapping: Vec<(String, String)>,
    /// `(value index, answered name)`, resolved from the first row's columns.
    picked: Vec<(usize, String)>,
    rows: u64,
}

impl Encoder {
    /// An encoder for `result` in `format`.
    pub fn new(result: &QueryResult, format: Format) -> Self {
        Self {
            format,
            element: result.element.clone(),
            row_name: result.row_name.clone().unwrap_or_else(|| "row".to_string()),
            namespace: result.namespace.clone(),
            single: result.single,
            mapping: result
                .columns
                .iter()
                .map(|c| {
                    (
                        c.column.clone(),
                        c.name.clone().unwrap_or_else(|| c.column.clone()),
                    )
                })
                .collect(),
            picked: Vec::new(),
            rows: 0,
        }
    }

    /// Whether only the first row is answered.
    pub fn single(&self) -> bool {
        self.single
    }

    /// Resolves the answered columns against the result's `columns`; a mapped column the
    /// query does not return is an error.
    pub fn columns(&mut self, columns: &[String]) -> Result<(), DataError> {
        self.picked = if self.mapping.is_empty() {
            columns.iter().cloned().enumerate().collect()
        } else {
            let mut picked = Vec::with_capacity(self.mapping.len());
            for (column, name) in &self.mapping {
                let Some(i) = columns.iter().position(|c| c.eq_ignore_ascii_case(column)) else {
                    return Err(DataError::failed(format!(
                        "the result maps column \"{column}\", which the query does not return"
                    )));
                };
                picked.push((i, name.clone()));
            }
            picked
        };
        Ok(())
    }

    /// The answer's opening.
    pub fn open(&self, out: &mut Vec<u8>) {
        match (self.format, self.single) {
            (Format::Json, true) => {}
            (Format::Json, false) => match &self.element {
                Some(e) => {
                    out.extend_from_slice(b"{");
                    json_string(e, out);
                    out.extend_from_slice(b":{");
                    json_string(&self.row_name, out);
                    out.extend_from_slice(b":[");
                }
                None => out.push(b'['),
            },
            (Format::Xml, true) => {}
            (Format::Xml, false) => {
                let root = self.element.as_deref().unwrap_or("results");
                out.push(b'<');
                out.extend_from_slice(root.as_bytes());
                self.namespaces(out);
                out.push(b'>');
            }
        }
    }

    fn namespaces(&self, out: &mut Vec<u8>) {
        if let Some(ns) = &self.namespace {
            out.extend_from_slice(b" xmlns=\"");
            crate::xml::escape_attribute(ns, out);
            out.push(b'"');
        }
        out.extend_from_slice(b" xmlns:xsi=\"");
        out.extend_from_slice(XSI.as_bytes());
        out.push(b'"');
    }

    /// One row.
    pub fn row(&mut self, values: &[Value], out: &mut Vec<u8>) {
        let first = self.rows == 0;
        self.rows += 1;
        match self.format {
            Format::Json => {
                if !first {
                    out.push(b',');
                }
                out.push(b'{');
                for (n, (i, name)) in self.picked.iter().enumerate() {
                    if n > 0 {
                        out.push(b',');
                    }
                    json_string(name, out);
                    out.push(b':');
                    let v = values.get(*i).unwrap_or(&Value::Null);
                    // A Value always serializes into a Vec.
                    let _ = serde_json::to_writer(&mut *out, v);
                }
                out.push(b'}');
            }
            Format::Xml => {
                out.push(b'<');
                out.extend_from_slice(self.row_name.as_bytes());
                if self.single {
                    self.namespaces(out);
                }
                out.push(b'>');
                for (i, name) in &self.picked {
                    out.push(b'<');
                    out.extend_from_slice(name.as_bytes());
                    match values.get(*i).unwrap_or(&Value::Null) {
                        Value::Null => out.extend_from_slice(b" xsi:nil=\"true\"/>"),
                        v => {
                            out.push(b'>');
                            let text = match v {
                                Value::String(s) => s.clone(),
                                other => other.to_string(),
                            };
                            crate::xml::escape_text(&text, out);
                            out.extend_from_slice(b"</");
                            out.extend_from_slice(name.as_bytes());
                            out.push(b'>');
                        }
                    }
                }
                out.extend_from_slice(b"</");
                out.extend_from_slice(self.row_name.as_bytes());
                out.push(b'>');
            }
        }
    }

    /// The answer's end. A `single` result without a row is JSON `null` / an empty
    /// row element.
    pub fn close(&self, out: &mut Vec<u8>) {
        match (self.format, self.single) {
            (Format::Json, true) => {
                if self.rows == 0 {
                    out.extend_from_slice(b"null");
                }
            }
            (Format::Json, false) => match &self.element {
                Some(_) => out.extend_from_slice(b"]}}"),
                None => out.push(b']'),
            },
            (Format::Xml, true) => {
                if self.rows == 0 {
                    out.push(b'<');
                    out.extend_from_slice(self.row_name.as_bytes());
                    self.namespaces(out);
                    out.extend_from_slice(b"/>");
                }
            }
            (Format::Xml, false) => {
                let root = self.element.as_deref().unwrap_or("results");
                out.extend_from_slice(b"</");
                out.extend_from_slice(root.as_bytes());
                out.push(b'>');
            }
        }
    }

    /// A whole buffered result.
    pub fn all(&mut self, columns: &[String], rows: &[Vec<Value>]) -> Result<Vec<u8>, DataError> {
        self.columns(columns)?;
        let mut out = Vec::with_capacity(64 + rows.len() * 64);
        self.open(&mut out);
        for row in rows {
            self.row(row, &mut out);
            if self.single {
                break;
            }
        }
        self.close(&mut out);
        Ok(out)
    }
}

/// The answer of a write: how many rows it changed.
pub fn changed(n: u64, format: Format) -> Vec<u8> {
    match format {
        Format::Json => format!("{{\"rowsAffected\":{n}}}").into_bytes(),
        Format::Xml => format!("<result><rowsAffected>{n}</rowsAffected></result>").into_bytes(),
    }
}

fn json_string(s: &str, out: &mut Vec<u8>) {
    let _ = serde_json::to_writer(&mut *out, s);
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_api::resources::ColumnMapping;
    use serde_json::json;

    fn text(format: Format, result: QueryResult) -> String {
        let mut enc = Encoder::new(&result, format);
        let columns = vec!["id".to_string(), "name".to_string()];
        let rows = vec![
            vec![json!(1), json!("Müller <&>")],
            vec![json!(2), Value::Null],
        ];
        String::from_utf8(enc.all(&columns, &rows).unwrap_or_default()).unwrap_or_default()
    }

    #[test]
    fn json_answers_mi_shape_with_an_element_and_an_array_without() {
        let with = QueryResult {
            element: Some("doctors".into()),
            row_name: Some("doctor".into()),
            ..Default::default()
        };
        assert_eq!(
            text(Format::Json, with),
            r#"{"doctors":{"doctor":[{"id":1,"name":"Müller <&>"},{"id":2,"name":null}]}}"#
        );
        assert_eq!(
            text(Format::Json, QueryResult::default()),
            r#"[{"id":1,"name":"Müller <&>"},{"id":2,"name":null}]"#
        );
    }

    #[test]
    fn xml_escapes_text_and_marks_nulls() {
        let r = QueryResult {
            element: Some("doctors".into()),
            row_name: Some("doctor".into()),
            columns: vec![ColumnMapping {
                column: "NAME".into(),
                name: Some("fullName".into()),
            }],
            ..Default::default()
        };
        assert_eq!(
            text(Format::Xml, r),
            format!(
                "<doctors xmlns:xsi=\"{XSI}\"><doctor><fullName>Müller &lt;&amp;&gt;</fullName></doctor><doctor><fullName xsi:nil=\"true\"/></doctor></doctors>"
            )
        );
    }

    #[test]
    fn a_single_result_is_the_first_row() {
        let r = QueryResult {
            single: true,
            ..Default::default()
        };
        assert_eq!(text(Format::Json, r), r#"{"id":1,"name":"Müller <&>"}"#);
    }

    #[test]
    fn mapping_a_missing_column_is_an_error() {
        let r = QueryResult {
            columns: vec![ColumnMapping {
                column: "nope".into(),
                name: None,
            }],
            ..Default::default()
        };
        let mut enc = Encoder::new(&r, Format::Json);
        assert!(enc.columns(&["id".to_string()]).is_err());
    }
}
