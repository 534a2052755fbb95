// Prices an order: a total per line and for the whole order, with a discount from the
// `discount` property (percent).
function price(mc) {
  var order = mc.getPayloadJSON();
  var discount = Number(mc.getProperty('discount') || 0);
  var total = 0;
  var lines = order.lines.map(function (l) {
    var amount = l.qty * l.unitPrice;
    total += amount;
    return { sku: l.sku, amount: amount };
  });
  total = Math.round(total * (100 - discount)) / 100;
  mc.setVariable('orderTotal', total);
  mc.setPayloadJSON({ customer: order.customer, lines: lines, total: total, discount: discount });
}
