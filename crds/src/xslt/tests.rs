use super::*;

fn sheet(body: &str) -> String {
    format!(
        "<xsl:stylesheet version='1.0' xmlns:xsl='http://www.w3.org/1999/XSL/Transform' \
         xmlns:m='urn:m'>{body}</xsl:stylesheet>"
    )
}

const ORDERS: &str = "<orders xmlns:m='urn:m'><order id='2'><item>b</item><qty>3</qty></order>\
     <order id='1'><item>a</item><qty>5</qty></order><m:note>hi</m:note></orders>";

fn run(body: &str, params: &[(&str, &str)]) -> Result<Output, String> {
    let supplied: Vec<String> = params.iter().map(|(n, _)| n.to_string()).collect();
    let s = Stylesheet::compile("t", &sheet(body), &supplied)?;
    let params: Vec<(String, String)> = params
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    s.transform(ORDERS, &params)
}

fn xml(body: &str) -> String {
    match run(body, &[]) {
        Ok(Output::Xml(x)) => x,
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_identity_transform_with_an_override_rewrites_one_element() {
    let out = xml(
        "<xsl:template match='@*|node()'><xsl:copy><xsl:apply-templates \
         select='@*|node()'/></xsl:copy></xsl:template><xsl:template match='qty'>\
         <quantity><xsl:value-of select='.'/></quantity></xsl:template>",
    );
    assert!(out.contains("<quantity>3</quantity>"), "{out}");
    assert!(out.contains("<item>b</item>"), "{out}");
    assert!(out.contains("<m:note>hi</m:note>"), "{out}");
}

#[test]
fn templates_apply_in_their_mode() {
    let out = xml(
        "<xsl:template match='/'><r><xsl:apply-templates select='orders/order' \
         mode='a'/></r></xsl:template><xsl:template match='order' mode='a'><o>\
         <xsl:value-of select='@id'/></o></xsl:template><xsl:template match='order'>\
         <wrong/></xsl:template>",
    );
    assert_eq!(out, "<r><o>2</o><o>1</o></r>");
}

#[test]
fn apply_templates_sorts() {
    let out = xml(
        "<xsl:template match='/'><r><xsl:apply-templates select='orders/order'>\
         <xsl:sort select='item'/></xsl:apply-templates></r></xsl:template>\
         <xsl:template match='order'><i><xsl:value-of select='item'/></i></xsl:template>",
    );
    assert_eq!(out, "<r><i>a</i><i>b</i></r>");
}

#[test]
fn elements_attributes_copies_and_named_templates_build_the_result() {
    let out = xml(
        "<xsl:template name='t'><xsl:param name='a'/><t a='{$a}'/></xsl:template>\
         <xsl:template match='/'><xsl:element name='r'><xsl:attribute name='n'>\
         <xsl:value-of select='count(orders/order)'/></xsl:attribute>\
         <xsl:copy-of select='orders/order[1]/item'/><xsl:call-template name='t'>\
         <xsl:with-param name='a' select='2'/></xsl:call-template></xsl:element>\
         </xsl:template>",
    );
    // copy-of copies the item's namespace nodes (m is in scope in the source).
    assert_eq!(
        out,
        r#"<r n="2"><item xmlns:m="urn:m">b</item><t a="2"/></r>"#
    );
}

#[test]
fn choose_and_if_pick_branches() {
    let out = xml(
        "<xsl:template match='/'><r><xsl:for-each select='orders/order'>\
         <xsl:choose><xsl:when test=\"@id = '1'\"><one/></xsl:when><xsl:otherwise><other/>\
         </xsl:otherwise></xsl:choose><xsl:if test='count(orders/order[qty &gt; 4]) = 0'>\
         <none/></xsl:if></xsl:for-each></r></xsl:template>",
    );
    assert_eq!(out, "<r><other/><none/><one/><none/></r>");
}

#[test]
fn prefixed_names_match_and_select() {
    let out = xml(
        "<xsl:template match='/'><r><xsl:apply-templates select='//m:note'/></r>\
         </xsl:template><xsl:template match='m:note'><n><xsl:value-of select='.'/></n>\
         </xsl:template>",
    );
    assert_eq!(out, "<r><n>hi</n></r>");
}

#[test]
fn the_text_output_method_gives_text() {
    let out = run(
        "<xsl:output method='text'/><xsl:template match='/'><xsl:for-each \
         select='orders/order'><xsl:value-of select='item'/>,</xsl:for-each></xsl:template>",
        &[],
    );
    assert_eq!(out, Ok(Output::Text("b,a,".into())));
}

#[test]
fn supplied_parameters_are_bound_and_others_keep_their_default() {
    let body = "<xsl:param name='p'/><xsl:param name='d' select=\"'dflt'\"/>\
         <xsl:variable name='v' select='count(orders/order)'/>\
         <xsl:template match='/'><r><p><xsl:value-of select='$p'/></p><d>\
         <xsl:value-of select='$d'/></d><v><xsl:value-of select='$v'/></v></r></xsl:template>";
    let out = run(body, &[("p", "given")]);
    assert_eq!(
        out,
        Ok(Output::Xml("<r><p>given</p><d>dflt</d><v>2</v></r>".into()))
    );
    // The compiled copy is reused with new values.
    let supplied = vec!["p".to_string()];
    let s = Stylesheet::compile("t", &sheet(body), &supplied).expect("compiles");
    for value in ["x", "y"] {
        let out = s.transform(ORDERS, &[("p".into(), value.into())]);
        assert_eq!(
            out,
            Ok(Output::Xml(format!(
                "<r><p>{value}</p><d>dflt</d><v>2</v></r>"
            )))
        );
    }
}

#[test]
fn another_thread_compiles_its_own_copy() {
    let s = Stylesheet::compile(
        "t",
        &sheet(
            "<xsl:template match='/'><r><xsl:value-of select='count(//order)'/></r></xsl:template>",
        ),
        &[],
    )
    .expect("compiles");
    let out = std::thread::spawn(move || s.transform(ORDERS, &[]))
        .join()
        .expect("thread");
    assert_eq!(out, Ok(Output::Xml("<r>2</r>".into())));
}

#[test]
fn broken_stylesheets_do_not_compile() {
    for (body, says) in [
        (
            "<xsl:template match='/'><xsl:value-of select='(('/></xsl:template>",
            "",
        ),
        (
            "<xsl:template match='/'><xsl:bogus/></xsl:template>",
            "bogus",
        ),
        ("<xsl:include href='other.xsl'/>", "xsl:include"),
    ] {
        let err = Stylesheet::compile("t", &sheet(body), &[]).expect_err(body);
        assert!(err.contains(says), "{err}");
    }
    let err = Stylesheet::compile("t", "<xsl:stylesheet", &[]).expect_err("not XML");
    assert!(err.contains("not XML"), "{err}");
    let err = Stylesheet::compile("t", "<r/>", &[]).expect_err("not a stylesheet");
    assert!(err.contains("xsl:stylesheet"), "{err}");
}

#[test]
fn a_source_that_is_not_xml_is_an_error() {
    let s = Stylesheet::compile(
        "t",
        &sheet("<xsl:template match='/'><r/></xsl:template>"),
        &[],
    )
    .expect("compiles");
    assert!(s.transform("{\"a\":1}", &[]).is_err());
}
