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

/// The benchmark's stylesheet and a 1 KiB order like its body's XML view.
fn bench_case() -> (Arc<Stylesheet>, String) {
    let sheet = Stylesheet::compile(
        "bench",
        "<xsl:stylesheet version='1.0' xmlns:xsl='http://www.w3.org/1999/XSL/Transform'>\
         <xsl:template match='@*|node()'><xsl:copy><xsl:apply-templates select='@*|node()'/>\
         </xsl:copy></xsl:template><xsl:template match='qty'><quantity>\
         <xsl:value-of select='.'/></quantity></xsl:template><xsl:template match='pad'/>\
         </xsl:stylesheet>",
        &[],
    )
    .expect("compiles");
    let mut order =
        String::from("<jsonObject><kind>a</kind><id>42</id><name>Ferry benchmark order</name>");
    for i in 0..8 {
        order.push_str(&format!(
            "<items><sku>SKU-{i:04}</sku><qty>{}</qty></items>",
            i % 7 + 1
        ));
    }
    let pad = 1024usize.saturating_sub(order.len() + "<pad></pad></jsonObject>".len());
    order.push_str(&format!("<pad>{}</pad></jsonObject>", "x".repeat(pad)));
    (sheet, order)
}

/// Not a timed assertion: prints the time of one transform of the benchmark's 1 KiB order
/// (`cargo test -p ferry-api --release xslt_timing -- --ignored --nocapture`).
#[test]
#[ignore]
fn xslt_timing() {
    let (sheet, order) = bench_case();
    assert_eq!(order.len(), 1024);
    let out = sheet.transform(&order, &[]).expect("transforms");
    assert!(matches!(&out, Output::Xml(x) if x.contains("<quantity>1</quantity>")));
    for _ in 0..200 {
        let _ = sheet.transform(&order, &[]);
    }
    let n = 5000;
    let start = std::time::Instant::now();
    for _ in 0..n {
        let _ = sheet.transform(&order, &[]);
    }
    let per = start.elapsed().as_secs_f64() * 1e6 / n as f64;
    println!("xslt: {per:.1} µs per identity transform of a 1 KiB order");
}

/// Transforms `input` with a stylesheet of `body`.
fn on(input: &str, body: &str) -> String {
    let s = Stylesheet::compile("t", &sheet(body), &[]).unwrap_or_else(|e| panic!("{e}"));
    match s.transform(input, &[]) {
        Ok(Output::Xml(x)) | Ok(Output::Text(x)) => x,
        Err(e) => panic!("{e}"),
    }
}

fn root(body: &str) -> String {
    format!("<xsl:template match='/'>{body}</xsl:template>")
}

const PRICES: &str = "<order><line sku='b' qty='2' price='1.5'>Pen</line>\
     <line sku='a' qty='10' price='0.25'>apple</line><line sku='c' qty='1' price='12'>Book</line>\
     </order>";

#[test]
fn sum_number_and_arithmetic_over_node_values() {
    let out = on(
        PRICES,
        &root(
            "<r s='{sum(//@qty)}' n='{number(//line[1]/@qty) + 1}' \
             t='{//line[1]/@qty * //line[1]/@price}' d='{sum(//@price) div 2}'/>",
        ),
    );
    assert_eq!(out, r#"<r d="6.875" n="3" s="13" t="3"/>"#);
}

#[test]
fn value_of_writes_booleans_and_numbers_as_xpath_strings() {
    let out = on(
        PRICES,
        &root(
            "<r><b><xsl:value-of select='count(//line) = 3'/></b>\
             <f><xsl:value-of select='//line[1]/@qty &gt; 5'/></f>\
             <n><xsl:value-of select='1 div 0'/>,<xsl:value-of select='0 div 0'/>,\
             <xsl:value-of select='-0'/>,<xsl:value-of select='2.50'/></n></r>",
        ),
    );
    assert_eq!(
        out,
        "<r><b>true</b><f>false</f><n>Infinity,NaN,0,2.5</n></r>"
    );
}

#[test]
fn for_each_sorts_by_number_and_text_with_position_and_last() {
    let numeric = on(
        PRICES,
        &root(
            "<r><xsl:for-each select='//line'><xsl:sort select='@qty' data-type='number'/>\
             <xsl:value-of select='concat(position(), \"/\", last(), \":\", @sku)'/>;\
             </xsl:for-each></r>",
        ),
    );
    assert_eq!(numeric, "<r>1/3:c;2/3:b;3/3:a;</r>");
    let text = on(
        PRICES,
        &root(
            "<r><xsl:for-each select='//line'><xsl:sort select='@qty'/>\
             <xsl:value-of select='@qty'/>,</xsl:for-each></r>",
        ),
    );
    assert_eq!(text, "<r>1,10,2,</r>");
    let descending = on(
        PRICES,
        &root(
            "<r><xsl:for-each select='//line'><xsl:sort select='.' order='descending'/>\
             <xsl:value-of select='.'/>,</xsl:for-each></r>",
        ),
    );
    assert_eq!(descending, "<r>Pen,Book,apple,</r>");
    let two_keys = on(
        "<l><i k='1' v='b'/><i k='2' v='a'/><i k='1' v='a'/></l>",
        &root(
            "<r><xsl:for-each select='//i'><xsl:sort select='@k' data-type='number' \
             order='descending'/><xsl:sort select='@v'/><xsl:value-of \
             select='concat(@k, @v)'/>,</xsl:for-each></r>",
        ),
    );
    assert_eq!(two_keys, "<r>2a,1a,1b,</r>");
}

#[test]
fn node_and_number_comparisons_in_for_each_are_xpath_1() {
    let out = on(
        PRICES,
        &root(
            "<r><xsl:for-each select='//line'><xsl:if test='@qty &gt; 1'>\
             <xsl:value-of select='@sku'/></xsl:if><xsl:if test='@price = 12'>!</xsl:if>\
             </xsl:for-each></r>",
        ),
    );
    assert_eq!(out, "<r>ba!</r>");
}

#[test]
fn priorities_pick_the_most_specific_rule_and_the_last_of_equals() {
    let out = on(
        PRICES,
        "<xsl:template match='/'><r><xsl:apply-templates select='//line'/></r></xsl:template>\
         <xsl:template match='*'>star</xsl:template>\
         <xsl:template match='line'>line</xsl:template>\
         <xsl:template match=\"line[@sku='a']\">a</xsl:template>\
         <xsl:template match='order/line[3]'>third</xsl:template>\
         <xsl:template match='line' priority='-1'>never</xsl:template>",
    );
    // line[@sku='a'] and order/line[3] have priority 0.5; the plain name 0; * -0.5.
    assert_eq!(out, "<r>lineathird</r>");
    let last = on(
        PRICES,
        "<xsl:template match='/'><r><xsl:apply-templates select='//line[1]'/></r>\
         </xsl:template><xsl:template match='line'>first</xsl:template>\
         <xsl:template match='line'>second</xsl:template>",
    );
    assert_eq!(last, "<r>second</r>");
}

#[test]
fn built_in_rules_copy_text_and_recurse_in_the_mode() {
    let out = on(
        "<a>x<b y='1'>z<!--c--><?p q?></b></a>",
        "<xsl:template match='b' mode='m'>[<xsl:apply-templates mode='m'/>]</xsl:template>\
         <xsl:template match='/'><r><xsl:apply-templates mode='m'/>|<xsl:apply-templates \
         select='//@y'/></r></xsl:template>",
    );
    assert_eq!(out, "<r>x[z]|1</r>");
}

#[test]
fn patterns_with_descendants_attributes_text_and_unions() {
    let out = on(
        "<a><b><c>1</c></b><c>2</c><d e='3'/></a>",
        "<xsl:template match='/'><r><xsl:apply-templates select='//c | //@e | //c/text()'/>\
         </r></xsl:template><xsl:template match='b//c'>B</xsl:template>\
         <xsl:template match='/a/c'>A</xsl:template><xsl:template match='d/@e'>E</xsl:template>\
         <xsl:template match='c/text()'>T</xsl:template>",
    );
    assert_eq!(out, "<r>BTATE</r>");
}

#[test]
fn keys_index_nodes_by_value() {
    let out = on(
        PRICES,
        "<xsl:key name='by-sku' match='line' use='@sku'/>\
         <xsl:template match='/'><r><xsl:value-of select=\"key('by-sku', 'c')\"/>,\
         <xsl:value-of select=\"count(key('by-sku', //line/@sku))\"/>,\
         <xsl:apply-templates select=\"key('by-sku', 'a')\"/></r></xsl:template>\
         <xsl:template match=\"key('by-sku', 'a')\">A</xsl:template>",
    );
    assert_eq!(out, "<r>Book,3,A</r>");
}

#[test]
fn generate_id_and_current_and_format_number() {
    let out = on(
        PRICES,
        &root(
            "<r><xsl:for-each select='//line'><xsl:if test=\"generate-id(.) = \
             generate-id(//line[@sku = current()/@sku])\">y</xsl:if></xsl:for-each>\
             <f><xsl:value-of select=\"format-number(1234.5, '#,##0.00')\"/>;\
             <xsl:value-of select=\"format-number(0.256, '0.0%')\"/>;\
             <xsl:value-of select=\"format-number(-3, '0;(0)')\"/>;\
             <xsl:value-of select=\"format-number(7, '000')\"/></f></r>",
        ),
    );
    assert_eq!(out, "<r>yyy<f>1,234.50;25.6%;(3);007</f></r>");
    let european = on(
        PRICES,
        "<xsl:decimal-format name='eu' decimal-separator=',' grouping-separator='.'/>\
         <xsl:template match='/'><xsl:value-of select=\"format-number(1234567.891, \
         '#.##0,00', 'eu')\"/></xsl:template>",
    );
    assert_eq!(european, "1.234.567,89");
}

#[test]
fn system_properties_and_availability() {
    let out = on(
        PRICES,
        &root(
            "<r v=\"{system-property('xsl:version')}\" e=\"{element-available('xsl:sort')}\" \
             s=\"{element-available('xsl:number')}\" f=\"{function-available('key')}\" \
             g=\"{function-available('nope')}\"/>",
        ),
    );
    assert_eq!(out, r#"<r e="false" f="true" g="false" s="true" v="1"/>"#);
}

#[test]
fn numbers_count_siblings_levels_and_formats() {
    let input = "<book><ch><s/><s/></ch><ch><s/><s/><s/></ch></book>";
    let single = on(
        input,
        "<xsl:template match='/'><r><xsl:apply-templates select='//s'/></r></xsl:template>\
         <xsl:template match='s'><xsl:number/>,</xsl:template>",
    );
    assert_eq!(single, "<r>1,2,1,2,3,</r>");
    let multiple = on(
        input,
        "<xsl:template match='/'><r><xsl:apply-templates select='//s'/></r></xsl:template>\
         <xsl:template match='s'><xsl:number level='multiple' count='ch|s' \
         format='1.a'/>,</xsl:template>",
    );
    assert_eq!(multiple, "<r>1.a,1.b,2.a,2.b,2.c,</r>");
    let any = on(
        input,
        "<xsl:template match='/'><r><xsl:apply-templates select='//s'/></r></xsl:template>\
         <xsl:template match='s'><xsl:number level='any' format='(i)'/></xsl:template>",
    );
    assert_eq!(any, "<r>(i)(ii)(iii)(iv)(v)</r>");
    let value = on(
        input,
        &root(
            "<r><xsl:number value='4' format='A'/>,<xsl:number value='1999' format='I'/>,\
             <xsl:number value='7' format='01'/>,<xsl:number value='28' format='a'/>,\
             <xsl:number value='1234567' grouping-separator=',' grouping-size='3'/></r>",
        ),
    );
    assert_eq!(value, "<r>D,MCMXCIX,07,ab,1,234,567</r>");
}

#[test]
fn attribute_sets_literal_attributes_and_xsl_attribute_combine() {
    let out = on(
        PRICES,
        "<xsl:attribute-set name='base'><xsl:attribute name='a'>1</xsl:attribute>\
         <xsl:attribute name='b'>base</xsl:attribute></xsl:attribute-set>\
         <xsl:attribute-set name='more' use-attribute-sets='base'>\
         <xsl:attribute name='c'><xsl:value-of select='count(//line)'/></xsl:attribute>\
         </xsl:attribute-set>\
         <xsl:template match='/'><r xsl:use-attribute-sets='more' b='lit'>\
         <xsl:attribute name='d'>x</xsl:attribute></r>\
         <xsl:element name='e' use-attribute-sets='base'/><xsl:copy \
         use-attribute-sets='base'/></xsl:template>",
    );
    assert_eq!(out, r#"<r a="1" c="3" b="lit" d="x"/><e a="1" b="base"/>"#);
}

#[test]
fn namespaces_are_declared_where_result_names_need_them() {
    let out = on(
        "<m:a xmlns:m='urn:m'><m:b>1</m:b></m:a>",
        "<xsl:template match='/'><p:r xmlns:p='urn:p' xmlns:unused='urn:u' \
         xsl:exclude-result-prefixes='unused'><xsl:copy-of select='*/*'/>\
         <xsl:element name='q:e' namespace='urn:q'><xsl:attribute name='z:at' \
         namespace='urn:z'>v</xsl:attribute></xsl:element><d xmlns='urn:d'><in/></d>\
         <xsl:element name='m:f'/><plain/></p:r></xsl:template>",
    );
    assert_eq!(
        out,
        "<p:r xmlns:p=\"urn:p\"><m:b xmlns:m=\"urn:m\">1</m:b>\
         <q:e xmlns:q=\"urn:q\" xmlns:z=\"urn:z\" z:at=\"v\"/>\
         <d xmlns=\"urn:d\"><in/></d><m:f xmlns:m=\"urn:m\"/><plain/></p:r>"
    );
    // The XSL namespace is never written.
    assert!(!out.contains("XSL/Transform"), "{out}");
}

#[test]
fn the_identity_transform_keeps_namespaces_comments_and_processing_instructions() {
    let input = "<s:E xmlns:s='urn:s'><s:B a='1'><x xmlns='urn:d'>t</x><!--c--><?p v?></s:B></s:E>";
    let out = on(
        input,
        "<xsl:template match='@*|node()'><xsl:copy><xsl:apply-templates \
         select='@*|node()'/></xsl:copy></xsl:template>",
    );
    assert_eq!(
        out,
        "<s:E xmlns:s=\"urn:s\"><s:B a=\"1\"><x xmlns=\"urn:d\">t</x><!--c--><?p v?></s:B></s:E>"
    );
}

#[test]
fn text_output_with_disable_output_escaping() {
    let out = on(
        PRICES,
        "<xsl:output method='text'/><xsl:template match='/'>\
         <xsl:text disable-output-escaping='yes'>&lt;raw&gt;</xsl:text>\
         <xsl:for-each select='//line'><xsl:value-of select='@sku'/><xsl:if \
         test='position() != last()'><xsl:text>, </xsl:text></xsl:if></xsl:for-each>\
         </xsl:template>",
    );
    assert_eq!(out, "<raw>b, a, c");
    let xml = on(
        PRICES,
        &root(
            "<r><xsl:value-of select=\"'&lt;b&gt;'\" disable-output-escaping='yes'/>\
               <xsl:value-of select=\"'&lt;e&gt;'\"/></r>",
        ),
    );
    assert_eq!(xml, "<r><b>&lt;e&gt;</r>");
}

#[test]
fn variables_hold_values_and_result_tree_fragments() {
    let out = on(
        PRICES,
        "<xsl:variable name='total' select='sum(//@qty)'/>\
         <xsl:variable name='tree'><x>1</x><y>2</y></xsl:variable>\
         <xsl:template match='/'><xsl:variable name='local'>L<xsl:value-of \
         select='$total'/></xsl:variable><r t='{$total}' s='{$tree}' l='{$local}' \
         n='{string-length($tree)}'><xsl:copy-of select='$tree'/>\
         <xsl:for-each select='//line'><xsl:variable name='q' select='@qty'/>\
         <xsl:value-of select='$q'/></xsl:for-each></r></xsl:template>",
    );
    assert_eq!(
        out,
        r#"<r l="L13" n="2" s="12" t="13"><x>1</x><y>2</y>2101</r>"#
    );
}

#[test]
fn a_called_template_sees_its_parameters_not_its_callers_locals() {
    let out = on(
        PRICES,
        "<xsl:variable name='v' select=\"'global'\"/>\
         <xsl:template name='show'><xsl:param name='p' select=\"'default'\"/>\
         <xsl:value-of select='concat($p, \"-\", $v)'/>;</xsl:template>\
         <xsl:template match='/'><xsl:variable name='v' select=\"'local'\"/>\
         <r><xsl:call-template name='show'/><xsl:call-template name='show'>\
         <xsl:with-param name='p' select='$v'/></xsl:call-template>\
         <xsl:apply-templates select='//line[1]'><xsl:with-param name='w' \
         select='42'/></xsl:apply-templates></r></xsl:template>\
         <xsl:template match='line'><xsl:param name='w'/>w=<xsl:value-of \
         select='$w'/></xsl:template>",
    );
    assert_eq!(out, "<r>default-global;local-global;w=42</r>");
}

#[test]
fn recursion_works_and_a_runaway_one_is_an_error() {
    let out = on(
        PRICES,
        "<xsl:template name='count'><xsl:param name='n'/><xsl:if test='$n &gt; 0'>\
         <xsl:value-of select='$n'/><xsl:call-template name='count'><xsl:with-param \
         name='n' select='$n - 1'/></xsl:call-template></xsl:if></xsl:template>\
         <xsl:template match='/'><r><xsl:call-template name='count'><xsl:with-param \
         name='n' select='5'/></xsl:call-template></r></xsl:template>",
    );
    assert_eq!(out, "<r>54321</r>");
    let s = Stylesheet::compile(
        "t",
        &sheet(
            "<xsl:template name='loop'><x><xsl:call-template name='loop'/></x></xsl:template>\
             <xsl:template match='/'><xsl:call-template name='loop'/></xsl:template>",
        ),
        &[],
    )
    .expect("compiles");
    // Run where the processor's own stack use is as in a worker thread.
    let err = std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || s.transform(PRICES, &[]))
        .expect("thread")
        .join()
        .expect("no overflow")
        .expect_err("runaway");
    assert!(err.contains("nest more than"), "{err}");
}

#[test]
fn copy_comment_processing_instruction_and_text() {
    let out = on(
        PRICES,
        &root(
            "<r><xsl:for-each select='//line[1]'><xsl:copy><xsl:copy-of select='@sku'/>\
             </xsl:copy></xsl:for-each><xsl:comment>note <xsl:value-of \
             select='count(//line)'/></xsl:comment><xsl:processing-instruction \
             name='pi'>x</xsl:processing-instruction><xsl:text>  </xsl:text></r>",
        ),
    );
    assert_eq!(out, "<r><line sku=\"b\"/><!--note 3--><?pi x?>  </r>");
}

#[test]
fn strip_space_removes_whitespace_text_and_preserve_space_keeps_it() {
    let input = "<a>\n  <b>\n  </b>\n  <c> </c></a>";
    let body = "<xsl:template match='/'><r><xsl:value-of select='count(//text())'/></r>\
                </xsl:template>";
    assert_eq!(on(input, body), "<r>4</r>");
    let stripped = on(input, &format!("<xsl:strip-space elements='*'/>{body}"));
    assert_eq!(stripped, "<r>0</r>");
    let kept = on(
        input,
        &format!("<xsl:strip-space elements='*'/><xsl:preserve-space elements='c'/>{body}"),
    );
    assert_eq!(kept, "<r>1</r>");
}

#[test]
fn output_options_indent_declaration_and_cdata() {
    let out = on(
        PRICES,
        "<xsl:output omit-xml-declaration='no' indent='yes' cdata-section-elements='c'/>\
         <xsl:template match='/'><r><a><b/></a><c>x&lt;y</c></r></xsl:template>",
    );
    assert_eq!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<r>\n  <a>\n    <b/>\n  </a>\n  \
         <c><![CDATA[x<y]]></c>\n</r>"
    );
}

#[test]
fn messages_terminate_only_when_asked() {
    assert_eq!(
        on(PRICES, &root("<r><xsl:message>note</xsl:message></r>")),
        "<r/>"
    );
    let s = Stylesheet::compile(
        "t",
        &sheet(&root(
            "<xsl:message terminate='yes'>bad <xsl:value-of \
                      select='count(//line)'/></xsl:message>",
        )),
        &[],
    )
    .expect("compiles");
    let err = s.transform(PRICES, &[]).expect_err("terminates");
    assert!(err.contains("bad 3"), "{err}");
}

#[test]
fn forwards_compatible_stylesheets_fall_back() {
    let s = Stylesheet::compile(
        "t",
        "<xsl:stylesheet version='2.0' xmlns:xsl='http://www.w3.org/1999/XSL/Transform'>\
         <xsl:template match='/'><r><xsl:future><xsl:fallback>fb</xsl:fallback>\
         </xsl:future></r></xsl:template><xsl:future-top/></xsl:stylesheet>",
        &[],
    )
    .expect("compiles");
    assert_eq!(
        s.transform(PRICES, &[]),
        Ok(Output::Xml("<r>fb</r>".into()))
    );
    let no_fallback = Stylesheet::compile(
        "t",
        "<xsl:stylesheet version='2.0' xmlns:xsl='http://www.w3.org/1999/XSL/Transform'>\
         <xsl:template match='/'><r><xsl:future/></r></xsl:template></xsl:stylesheet>",
        &[],
    )
    .expect("compiles");
    let err = no_fallback.transform(PRICES, &[]).expect_err("runs it");
    assert!(err.contains("xsl:future"), "{err}");
}

#[test]
fn compile_errors_say_what_is_wrong() {
    for (body, says) in [
        (
            "<xsl:template match='/'><xsl:value-of select='$nope'/></xsl:template>",
            "$nope",
        ),
        (
            "<xsl:template match='/'><xsl:call-template name='x'/></xsl:template>",
            "named x",
        ),
        ("<xsl:template match='a/following::b'/>", "axes"),
        ("<xsl:import href='x.xsl'/>", "xsl:import"),
        (
            "<xsl:template match='/'><xsl:apply-imports/></xsl:template>",
            "apply-imports",
        ),
        (
            "<xsl:template match='/'><xsl:value-of/></xsl:template>",
            "select",
        ),
        (
            "<xsl:variable name='a' select='$b'/><xsl:variable name='b' select='$a'/>",
            "itself",
        ),
        ("<xsl:output method='pdf'/>", "pdf"),
        (
            "<xsl:template match='/'><r a='{'/></xsl:template>",
            "unterminated",
        ),
        (
            "<xsl:template match='/'><xsl:value-of select='conact(1, 2)'/></xsl:template>",
            "conact()",
        ),
        (
            "<xsl:template match='/'><xsl:value-of select='count(x:item)'/></xsl:template>",
            "prefix x",
        ),
    ] {
        let err = Stylesheet::compile("t", &sheet(body), &[]).expect_err(body);
        assert!(err.contains(says), "{body}: {err}");
    }
}

#[test]
fn operators_before_parentheses_are_not_function_calls() {
    assert_eq!(
        on(
            PRICES,
            &root("<r><xsl:value-of select='3 mod (2) and not(1 div (0))'/></r>")
        ),
        "<r>false</r>"
    );
}

#[test]
fn a_simplified_stylesheet_is_a_template_for_the_root() {
    let s = Stylesheet::compile(
        "t",
        "<r xsl:version='1.0' xmlns:xsl='http://www.w3.org/1999/XSL/Transform'>\
         <xsl:value-of select='count(//line)'/></r>",
        &[],
    )
    .expect("compiles");
    assert_eq!(s.transform(PRICES, &[]), Ok(Output::Xml("<r>3</r>".into())));
}

#[test]
fn the_compiled_form_gives_the_same_result_every_time() {
    let (sheet, order) = bench_case();
    let first = sheet.transform(&order, &[]).expect("transforms");
    let Output::Xml(x) = &first else {
        panic!("{first:?}")
    };
    assert!(x.starts_with("<jsonObject><kind>a</kind>"), "{x}");
    assert!(
        x.contains("<items><sku>SKU-0000</sku><quantity>1</quantity></items>"),
        "{x}"
    );
    assert!(!x.contains("pad"), "{x}");
    assert_eq!(sheet.transform(&order, &[]), Ok(first));
}

#[test]
fn unused_stylesheet_namespaces_are_not_written() {
    // As tests/behavior/xslt.yaml's quote-to-price: q is declared but no result name uses it.
    let s = Stylesheet::compile(
        "t",
        "<xsl:stylesheet version='1.0' xmlns:xsl='http://www.w3.org/1999/XSL/Transform' \
         xmlns:q='urn:quotes'>\n  <xsl:template match='/'>\n    <price \
         symbol='{q:getQuote/q:symbol}'><xsl:choose>\n      <xsl:when test=\"q:getQuote/q:symbol \
         = 'IBM'\">172.5</xsl:when>\n      <xsl:otherwise>0</xsl:otherwise>\n    \
         </xsl:choose></price>\n  </xsl:template>\n</xsl:stylesheet>",
        &[],
    )
    .expect("compiles");
    let out = s.transform(
        "<q:getQuote xmlns:q='urn:quotes'><q:symbol>IBM</q:symbol></q:getQuote>",
        &[],
    );
    assert_eq!(
        out,
        Ok(Output::Xml(r#"<price symbol="IBM">172.5</price>"#.into()))
    );
}

#[test]
fn soap_envelopes_are_built_with_their_namespaces_once() {
    let out = on(
        "<getQuote xmlns='urn:in'><symbol>IBM</symbol></getQuote>",
        "<xsl:template match='/'><soapenv:Envelope \
         xmlns:soapenv='http://schemas.xmlsoap.org/soap/envelope/' xmlns:i='urn:in'>\
         <soapenv:Body><m:req xmlns:m='urn:m'><m:sym><xsl:value-of select='//i:symbol'/>\
         </m:sym><m:n><xsl:value-of select=\"local-name(*[local-name()='getQuote'])\"/>\
         </m:n></m:req></soapenv:Body></soapenv:Envelope></xsl:template>",
    );
    assert_eq!(
        out,
        "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\">\
         <soapenv:Body><m:req xmlns:m=\"urn:m\"><m:sym>IBM</m:sym><m:n>getQuote</m:n></m:req>\
         </soapenv:Body></soapenv:Envelope>"
    );
    // A copied element of the default namespace inside one in no namespace, and back.
    let copied = on(
        "<a xmlns='urn:d'><b/></a>",
        "<xsl:template match='/'><r><xsl:copy-of select='*'/><xsl:element name='x' \
         namespace='urn:d'><plain/></xsl:element></r></xsl:template>",
    );
    assert_eq!(
        copied,
        "<r><a xmlns=\"urn:d\"><b/></a><x xmlns=\"urn:d\"><plain xmlns=\"\"/></x></r>"
    );
}

#[test]
fn xml_errors_say_where() {
    let err = Stylesheet::compile(
        "t",
        "<xsl:stylesheet xmlns:xsl='http://www.w3.org/1999/XSL/Transform'>\n  <a></b>",
        &[],
    )
    .expect_err("bad");
    assert!(err.contains("line 2, column"), "{err}");
    let s = Stylesheet::compile("t", &sheet(&root("<r/>")), &[]).expect("compiles");
    let err = s.transform("<a><b></a>", &[]).expect_err("bad source");
    assert!(
        err.starts_with("the source is not XML: line 1, column"),
        "{err}"
    );
}

#[test]
fn the_source_is_read_with_references_cdata_and_attributes_in_order() {
    let out = on(
        "<?xml version='1.0'?><!--top--><a z='1' b='&amp;&#65;' xml:lang='en-GB'>x &lt; \
         <![CDATA[<y>]]>&#x42;<b/></a>",
        &root(
            "<r n='{count(a/text())}' t='{a/text()}' l='{lang(\"en\")}'>\
             <xsl:for-each select='a'><xsl:copy-of select='@*'/>\
             <xsl:value-of select='lang(\"en\")'/></xsl:for-each></r>",
        ),
    );
    assert_eq!(
        out,
        "<r l=\"false\" n=\"1\" t=\"x &lt; &lt;y>B\" z=\"1\" b=\"&amp;A\" \
         xml:lang=\"en-GB\">true</r>"
    );
    let s = Stylesheet::compile("t", &sheet(&root("<r/>")), &[]).expect("compiles");
    for bad in ["<a>&nope;</a>", "<a/><b/>", "text", "<a><b></a>", "<p:a/>"] {
        let err = s.transform(bad, &[]).expect_err(bad);
        assert!(
            err.starts_with("the source is not XML: line 1"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn document_of_the_empty_string_reads_the_stylesheet() {
    let out = on(
        PRICES,
        "<m:rates><m:rate sku='a'>0.5</m:rate><m:rate sku='b'>2</m:rate></m:rates>\
         <xsl:variable name='rates' select=\"document('')/*/m:rates/m:rate\"/>\
         <xsl:template match='/'><r><xsl:for-each select='//line'><xsl:value-of \
         select='$rates[@sku = current()/@sku]'/>,</xsl:for-each></r></xsl:template>",
    );
    assert_eq!(out, "<r>2,0.5,,</r>");
    let s = Stylesheet::compile(
        "t",
        &sheet(&root("<xsl:copy-of select=\"document('other.xml')\"/>")),
        &[],
    )
    .expect("compiles");
    let err = s.transform(PRICES, &[]).expect_err("reads nothing else");
    assert!(err.contains("document('')"), "{err}");
}

#[test]
fn the_order_total_of_the_behaviour_tests() {
    // tests/behavior/xslt.yaml's order-total, as the runtime gets it.
    let s = Stylesheet::compile(
        "order-total",
        r#"<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:template match="/order">
    <total sum="{sum(line/@qty)}" big="{count(line[@qty &gt; 4]) &gt; 0}">
      <xsl:for-each select="line">
        <xsl:sort select="@qty" data-type="number" order="descending"/>
        <xsl:value-of select="concat(position(), ':', @sku, ' ')"/>
      </xsl:for-each>
    </total>
  </xsl:template>
</xsl:stylesheet>
"#,
        &[],
    )
    .expect("compiles");
    assert_eq!(
        s.transform(
            r#"<order><line sku="a" qty="2"/><line sku="b" qty="10"/><line sku="c" qty="3"/></order>"#,
            &[]
        ),
        Ok(Output::Xml(
            r#"<total big="true" sum="15">1:b 2:c 3:a </total>"#.into()
        ))
    );
}

#[test]
fn deep_results_and_sources_are_safe() {
    // A result nested 2,000 deep is built, copied and written (on heap stack segments).
    let s = Stylesheet::compile(
        "t",
        &sheet(
            "<xsl:template name='nest'><xsl:param name='n'/><xsl:if test='$n &gt; 0'><x>\
             <xsl:call-template name='nest'><xsl:with-param name='n' select='$n - 1'/>\
             </xsl:call-template></x></xsl:if></xsl:template>\
             <xsl:template match='/'><xsl:variable name='t'><xsl:call-template name='nest'>\
             <xsl:with-param name='n' select='2000'/></xsl:call-template></xsl:variable>\
             <r><xsl:copy-of select='$t'/></r></xsl:template>",
        ),
        &[],
    )
    .expect("compiles");
    let out = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || s.transform(PRICES, &[]))
        .expect("thread")
        .join()
        .expect("no overflow");
    let Ok(Output::Xml(x)) = out else {
        panic!("{out:?}")
    };
    assert_eq!(x.matches("<x>").count(), 1999);
    // A source nested deeper than the runtime's parser allows is refused.
    let s = Stylesheet::compile("t", &sheet(&root("<r/>")), &[]).expect("compiles");
    let deep = format!("{}{}", "<a>".repeat(600), "</a>".repeat(600));
    let err = s.transform(&deep, &[]).expect_err("too deep");
    assert!(err.contains("nested too deeply"), "{err}");
}
