package psb

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"
	"text/template"
)

// wsdlSource is the service description: document/literal SOAP 1.1 over HTTP, one
// operation, the fault detail it answers with, and the address the caller reached it at.
const wsdlSource = `<?xml version="1.0" encoding="UTF-8"?>
<wsdl:definitions name="PopulationService" targetNamespace="{{.NS}}"
    xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
    xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:xsd="http://www.w3.org/2001/XMLSchema"
    xmlns:tns="{{.NS}}">
  <wsdl:documentation>上海市公安局浦东分局 人口信息查询服务：按公民身份号码查询常住人口基本信息。应答报文采用 GBK 编码。</wsdl:documentation>
  <wsdl:types>
    <xsd:schema targetNamespace="{{.NS}}" elementFormDefault="qualified">
      <xsd:simpleType name="SFZH">
        <xsd:annotation><xsd:documentation>公民身份号码（GB 11643）</xsd:documentation></xsd:annotation>
        <xsd:restriction base="xsd:string"><xsd:pattern value="[0-9]{17}[0-9X]"/></xsd:restriction>
      </xsd:simpleType>
      <xsd:element name="QueryPerson">
        <xsd:complexType>
          <xsd:sequence>
            <xsd:element name="SFZH" type="tns:SFZH"/>
          </xsd:sequence>
        </xsd:complexType>
      </xsd:element>
      <xsd:complexType name="Person">
        <xsd:sequence>
          <xsd:element name="SFZH" type="tns:SFZH"><xsd:annotation><xsd:documentation>公民身份号码</xsd:documentation></xsd:annotation></xsd:element>
          <xsd:element name="XM" type="xsd:string"><xsd:annotation><xsd:documentation>姓名</xsd:documentation></xsd:annotation></xsd:element>
          <xsd:element name="XB" type="xsd:string"><xsd:annotation><xsd:documentation>性别代码（GB/T 2261.1）</xsd:documentation></xsd:annotation></xsd:element>
          <xsd:element name="CSRQ" type="xsd:string"><xsd:annotation><xsd:documentation>出生日期 yyyyMMdd</xsd:documentation></xsd:annotation></xsd:element>
          <xsd:element name="MZ" type="xsd:string"><xsd:annotation><xsd:documentation>民族代码（GB 3304）</xsd:documentation></xsd:annotation></xsd:element>
          <xsd:element name="HJDZ" type="xsd:string"><xsd:annotation><xsd:documentation>户籍地址</xsd:documentation></xsd:annotation></xsd:element>
          <xsd:element name="LXDH" type="xsd:string" minOccurs="0"><xsd:annotation><xsd:documentation>联系电话</xsd:documentation></xsd:annotation></xsd:element>
        </xsd:sequence>
      </xsd:complexType>
      <xsd:element name="QueryPersonResponse">
        <xsd:complexType>
          <xsd:sequence>
            <xsd:element name="Person" type="tns:Person"/>
          </xsd:sequence>
        </xsd:complexType>
      </xsd:element>
      <xsd:element name="ErrorCode" type="xsd:string">
        <xsd:annotation><xsd:documentation>{{.Codes}}</xsd:documentation></xsd:annotation>
      </xsd:element>
    </xsd:schema>
  </wsdl:types>
  <wsdl:message name="QueryPersonRequest">
    <wsdl:part name="parameters" element="tns:QueryPerson"/>
  </wsdl:message>
  <wsdl:message name="QueryPersonResponse">
    <wsdl:part name="parameters" element="tns:QueryPersonResponse"/>
  </wsdl:message>
  <wsdl:message name="ServiceFault">
    <wsdl:part name="detail" element="tns:ErrorCode"/>
  </wsdl:message>
  <wsdl:portType name="PopulationServicePortType">
    <wsdl:operation name="QueryPerson">
      <wsdl:input message="tns:QueryPersonRequest"/>
      <wsdl:output message="tns:QueryPersonResponse"/>
      <wsdl:fault name="ServiceFault" message="tns:ServiceFault"/>
    </wsdl:operation>
  </wsdl:portType>
  <wsdl:binding name="PopulationServiceSoapBinding" type="tns:PopulationServicePortType">
    <soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
    <wsdl:operation name="QueryPerson">
      <soap:operation soapAction="{{.Action}}" style="document"/>
      <wsdl:input><soap:body use="literal"/></wsdl:input>
      <wsdl:output><soap:body use="literal"/></wsdl:output>
      <wsdl:fault name="ServiceFault"><soap:fault name="ServiceFault" use="literal"/></wsdl:fault>
    </wsdl:operation>
  </wsdl:binding>
  <wsdl:service name="PopulationService">
    <wsdl:port name="PopulationServicePort" binding="tns:PopulationServiceSoapBinding">
      <soap:address location="{{xml .Location}}"/>
    </wsdl:port>
  </wsdl:service>
</wsdl:definitions>
`

func parseWSDL() *template.Template {
	return template.Must(template.New("wsdl").Funcs(template.FuncMap{"xml": escapeXML}).Parse(wsdlSource))
}

// serveWSDL describes the service at the address the caller used, as SOAP stacks do, so
// a client generated from it reaches the same host (and port) it fetched it from.
func (h *handler) serveWSDL(w http.ResponseWriter, r *http.Request) {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	var b bytes.Buffer
	err := h.wsdl.Execute(&b, map[string]string{
		"NS":       Namespace,
		"Action":   ActionQueryPerson,
		"Location": scheme + "://" + r.Host + Path,
		"Codes":    strings.Join([]string{CodeNotFound, CodeBadRequest, CodeUnknownAction, CodeSystemError}, " "),
	})
	if err != nil {
		http.Error(w, "wsdl: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.Write(b.Bytes())
}

func escapeXML(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
