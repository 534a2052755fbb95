//! The SOAP proxy sample, black box: StockQuoteProxy answers a SOAP 1.1 request through
//! the StockQuoteService proxy, faults an empty symbol with a SOAP fault, and serves its
//! WSDL at ?wsdl.

// Test code: a panic here is a failed test, with its message and backtrace.
#![allow(clippy::unwrap_used)]

use ferry_tests::{Ferry, client, workspace_root};

fn get_quote(symbol: &str) -> String {
    format!(
        "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         xmlns:m=\"http://services.samples\"><soapenv:Body><m:getQuote><m:request>\
         <m:symbol>{symbol}</m:symbol></m:request></m:getQuote></soapenv:Body></soapenv:Envelope>"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stock_quote_proxy_answers_faults_and_publishes_its_wsdl() {
    let sample = workspace_root().join("config/samples/soap");
    let ferry = Ferry::start(&[&sample], &[]);
    let http = client();
    let post = |body: String| {
        http.post(ferry.url("/services/StockQuoteProxy"))
            .header("content-type", "text/xml")
            .header("soapaction", "\"urn:getQuote\"")
            .body(body)
            .send()
    };

    let r = post(get_quote("WSO2")).await.unwrap();
    assert_eq!(r.status(), 200, "{}", ferry.log());
    assert_eq!(r.headers()["content-type"], "text/xml");
    let body = r.text().await.unwrap();
    assert!(body.starts_with("<soapenv:Envelope"), "{body}");
    assert!(
        body.contains("<m:symbol>WSO2</m:symbol><m:last>166</m:last>"),
        "{body}"
    );

    let r = post(get_quote(" ")).await.unwrap();
    assert_eq!(r.status(), 500);
    let body = r.text().await.unwrap();
    assert!(
        body.contains(
            "<faultcode>soapenv:Client</faultcode><faultstring>a quote needs a symbol</faultstring>"
        ),
        "{body}"
    );

    let wsdl = http
        .get(ferry.url("/services/StockQuoteProxy?wsdl"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        wsdl.contains("<wsdl:service name=\"StockQuoteProxy\">"),
        "{wsdl}"
    );
}
