<?xml version="1.0" encoding="UTF-8"?>
<!-- An order (XML, or JSON seen as XML) becomes an invoice; the currency is a parameter. -->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:param name="currency" select="'EUR'"/>
  <xsl:template match="/">
    <invoice currency="{$currency}">
      <customer><xsl:value-of select="//customer"/></customer>
      <xsl:apply-templates select="//line">
        <xsl:sort select="sku"/>
      </xsl:apply-templates>
    </invoice>
  </xsl:template>
  <xsl:template match="line">
    <item sku="{sku}">
      <xsl:choose>
        <xsl:when test="gift = 'true'"><gift/></xsl:when>
        <xsl:otherwise><qty><xsl:value-of select="qty"/></qty></xsl:otherwise>
      </xsl:choose>
    </item>
  </xsl:template>
</xsl:stylesheet>
