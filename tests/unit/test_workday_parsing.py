"""Workday response reading without a server: tolerant record parsing, classification, hostile XML."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests

from ml_connector.hooks import workday_records as records
from ml_connector.hooks import workday_xml as wx
from ml_connector.hooks.workday_errors import (
    JsonClassifier,
    SoapClassifier,
    UnreadablePage,
    WorkdayValidationError,
    is_auth_fault,
)
from ml_connector.hooks.workday_reports import RaasColumns, raas_customer, report_rows, rest_customer
from ml_connector.http.errors import ApiError, CredentialRejected, TransientError

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
ENV = "http://schemas.xmlsoap.org/soap/envelope/"


def envelope(body: str, ns: str = "urn:com.workday/bsvc") -> bytes:
    return (
        f'<?xml version="1.0"?><env:Envelope xmlns:env="{ENV}"><env:Body>'
        f'<wd:Get_Customers_Response xmlns:wd="{ns}">{body}</wd:Get_Customers_Response></env:Body></env:Envelope>'
    ).encode()


def fault(code: str, message: str, detail: str = "") -> bytes:
    return (
        f'<SOAP-ENV:Envelope xmlns:SOAP-ENV="{ENV}"><SOAP-ENV:Body><SOAP-ENV:Fault xmlns:wd="urn:com.workday/bsvc">'
        f"<faultcode>SOAP-ENV:{code}</faultcode><faultstring>{message}</faultstring>{detail}"
        "</SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>"
    ).encode()


def response(status: int, body: bytes, content_type: str = "text/xml", **headers: str) -> requests.Response:
    r = requests.Response()
    r.status_code = status
    r._content = body
    r.headers.update({"Content-Type": content_type, **headers})
    return r


# -- records -----------------------------------------------------------------------------------------------
def test_a_customer_from_another_version_reads_by_local_name_with_defaults_for_missing_elements() -> None:
    body = envelope(
        "<wd:Response_Data><wd:Customer><wd:Customer_Reference><wd:ID wd:type='WID'>abc</wd:ID>"
        "<wd:ID wd:type='Customer_ID'>CUS-9</wd:ID></wd:Customer_Reference><wd:Customer_Data>"
        "<wd:Customer_Name>Ünïcode GmbH</wd:Customer_Name><wd:Brand_New_Element>x</wd:Brand_New_Element>"
        "<wd:Tax_ID_Widget_Data><wd:Tax_ID_Data><wd:Tax_ID_Text>DE1</wd:Tax_ID_Text></wd:Tax_ID_Data>"
        "<wd:Tax_ID_Data><wd:Tax_ID_Text>DE2</wd:Tax_ID_Text><wd:Primary_Tax_ID>1</wd:Primary_Tax_ID>"
        "</wd:Tax_ID_Data></wd:Tax_ID_Widget_Data>"
        "<wd:Customer_Status_Data><wd:Customer_Status_Value_Reference wd:Descriptor='Inactive'/>"
        "</wd:Customer_Status_Data></wd:Customer_Data></wd:Customer></wd:Response_Data>",
        ns="urn:com.workday/bsvc/v47",
    )
    (element,) = [e for e in wx.parse(body).iter() if wx.local(e) == "Customer"]
    customer = records.customer(element, AS_OF)
    assert customer is not None
    assert (customer.workday_id, customer.wid, customer.name) == ("CUS-9", "abc", "Ünïcode GmbH")
    assert customer.tax_id == "DE2" and customer.status == "INACTIVE" and customer.active is False
    assert customer.addresses == () and customer.category is None and customer.worktags == {}


def test_a_contact_attached_by_supplier_reference() -> None:
    body = envelope(
        "<wd:Business_Entity_Contact><wd:Business_Entity_Contact_Data>"
        "<wd:Business_Entity_Contact_ID>BEC-1</wd:Business_Entity_Contact_ID>"
        "<wd:Supplier_Reference><wd:ID wd:type='Supplier_ID'>SUP-1</wd:ID></wd:Supplier_Reference>"
        "<wd:Business_Entity_Contact_Personal_Data><wd:Name_Data><wd:Name_Detail_Data wd:Formatted_Name='Ada L'>"
        "<wd:First_Name>Ada</wd:First_Name><wd:Last_Name>L</wd:Last_Name></wd:Name_Detail_Data></wd:Name_Data>"
        "<wd:Contact_Data><wd:Phone_Data><wd:International_Phone_Code>44</wd:International_Phone_Code>"
        "<wd:Phone_Number>20 7946</wd:Phone_Number></wd:Phone_Data></wd:Contact_Data>"
        "</wd:Business_Entity_Contact_Personal_Data></wd:Business_Entity_Contact_Data></wd:Business_Entity_Contact>"
    )
    (element,) = [e for e in wx.parse(body).iter() if wx.local(e) == "Business_Entity_Contact"]
    contact = records.contact(element, AS_OF)
    assert contact is not None and contact.supplier_id == "SUP-1" and contact.customer_id is None
    assert contact.name == "Ada L" and contact.phones[0].value == "+44 20 7946"


def test_raas_rows_by_configurable_aliases_and_an_empty_report() -> None:
    columns = RaasColumns(customer_id="Kunde_ID", customer_name="Name", worktags=(("Branche", "INDUSTRY"),))
    row = {
        "Kunde_ID": "K-1",
        "Name": "Acme",
        "Customer_Status": "Active",
        "Branche": "Retail",
        "City": "Köln",
        "Formatted_Address": "Domplatz 1\n50667 Köln\nGermany",
    }
    customer = raas_customer(row, AS_OF, columns)
    assert customer is not None and customer.workday_id == "K-1" and customer.status == "ACTIVE"
    assert customer.worktags == {"INDUSTRY": "Retail"} and customer.addresses[0].city == "Köln"
    assert customer.addresses[0].formatted == "Domplatz 1\n50667 Köln\nGermany"  # as SOAP gives it
    assert raas_customer({"Name": "no id"}, AS_OF, columns) is None
    assert report_rows({}) == [] and report_rows({"Report_Entry": [row]}) == [row]


def test_rest_customer_view_has_only_the_wid() -> None:
    view = {
        "id": "w1",
        "name": "Acme",
        "category": {"id": "c1", "descriptor": "Corporate"},
        "primaryPhone": "+1 5",
    }
    customer = rest_customer(view, AS_OF)
    assert customer is not None and customer.workday_id == "w1" and customer.status is None
    assert customer.category is not None and customer.category.descriptor == "Corporate"


# -- classification --------------------------------------------------------------------------------------
VALIDATION = fault(
    "Client.validationError",
    "Validation error occurred. Invalid ID value",
    "<detail><wd:Validation_Fault><wd:Validation_Error><wd:Message>Invalid ID value</wd:Message>"
    "<wd:Detail_Message>'X' is not valid</wd:Detail_Message><wd:Xpath>/wd:Get_Customers_Request[1]</wd:Xpath>"
    "</wd:Validation_Error></wd:Validation_Fault></detail>",
)
AUTH = fault("Client.authenticationError", "invalid username or password")


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (503, b"<html>busy</html>", TransientError),
        (429, b"", TransientError),
        (502, b"", TransientError),
        (500, b"<html><body>Internal Server Error</body></html>", TransientError),
        (500, fault("Server.processingError", "Processing error occurred."), TransientError),
        # a missing permission is a processing fault too, but waiting never heals it
        (
            500,
            fault(
                "Server.processingError", "Processing error occurred. The task submitted is not authorized."
            ),
            ApiError,
        ),
        (500, VALIDATION, WorkdayValidationError),
        (500, AUTH, CredentialRejected),
        (404, b"<html>no</html>", ApiError),
        (200, b"<env:Envelope xmlns:env='" + ENV.encode() + b"'><env:Body><x", UnreadablePage),
        (200, b"<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY a 'aaaa'>]><r>&a;</r>", wx.UnsafeXml),
    ],
)
def test_soap_classification_by_status_then_fault(
    status: int, body: bytes, expected: type[Exception]
) -> None:
    with pytest.raises(expected) as caught:
        SoapClassifier("wd", "isu")(response(status, body))
    assert type(caught.value) is expected


def test_validation_error_keeps_message_detail_and_xpath() -> None:
    with pytest.raises(WorkdayValidationError) as caught:
        SoapClassifier("wd", "oauth2_refresh_token")(response(500, VALIDATION))
    issue = caught.value.issues[0]
    assert (issue.message, issue.detail_message, issue.xpath) == (
        "Invalid ID value",
        "'X' is not valid",
        "/wd:Get_Customers_Request[1]",
    )
    assert "/wd:Get_Customers_Request[1]" in str(caught.value)


def test_auth_fault_is_the_soap_unauthorized_and_names_the_fix() -> None:
    assert is_auth_fault(response(500, AUTH))
    assert not is_auth_fault(response(500, VALIDATION)) and not is_auth_fault(response(401, AUTH))
    with pytest.raises(CredentialRejected, match=r"connection 'wd'.*Integration System User"):
        SoapClassifier("wd", "isu")(response(500, AUTH))


def test_a_usable_body_is_parsed_once_and_handed_over() -> None:
    classifier = SoapClassifier("wd", "isu")
    ok = response(
        200, envelope("<wd:Response_Results><wd:Total_Pages>0</wd:Total_Pages></wd:Response_Results>")
    )
    classifier(ok)
    root = classifier.envelope(ok)
    assert wx.text(wx.body_payload(root), "Response_Results/Total_Pages") == "0"


def test_json_classification() -> None:
    classify = JsonClassifier("wd", "oauth2_refresh_token")
    with pytest.raises(TransientError) as caught:
        classify(response(429, b'{"error": "Too many"}', "application/json", **{"Retry-After": "3"}))
    assert caught.value.retry_after_s == 3.0
    with pytest.raises(CredentialRejected, match="connection 'wd'"):
        classify(response(401, b'{"error": "invalid_token"}', "application/json"))
    with pytest.raises(ApiError, match="limit must be at most 100") as final:
        classify(
            response(
                400,
                b'{"error": "invalid request", "errors": [{"error": "limit must be at most 100"}]}',
                "application/json",
            )
        )
    assert not isinstance(final.value, TransientError)
    classify(response(200, b"{}", "application/json"))


def test_entity_expansion_and_external_entities_are_refused_before_parsing() -> None:
    laughs = b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "x"><!ENTITY b "&a;&a;">]><r>&b;</r>'
    for body in (laughs, laughs.replace(b"DOCTYPE", b"doctype")):
        with pytest.raises(wx.UnsafeXml):
            wx.parse(body)


ENVELOPE = '<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Body/></env:Envelope>'
DTD = '<!DOCTYPE x [<!ENTITY e "boom">]>'


@pytest.mark.parametrize(
    "body",
    [
        (DTD + ENVELOPE).encode(),
        ('<?xml version="1.0"?>' + DTD + ENVELOPE).encode(),
        ("<!--" + "padding " * 2000 + "-->" + DTD + ENVELOPE).encode(),  # past any fixed-size head
        (" \n" * 5000 + DTD + ENVELOPE).encode(),
        ('<?xml version="1.0"?><?pi data?>' + DTD + ENVELOPE).encode(),
        ('<?xml version="1.0" encoding="UTF-16"?>' + DTD + ENVELOPE).encode("utf-16"),  # with a BOM
        ('<?xml version="1.0" encoding="UTF-16"?>' + DTD + ENVELOPE).encode("utf-16-le"),  # without
        ('<?xml version="1.0" encoding="UTF-32"?>' + DTD + ENVELOPE).encode("utf-32"),
        ('<!ENTITY e "boom">' + ENVELOPE).encode(),
        ("<!doctype x>" + ENVELOPE).encode(),
    ],
    ids=["first", "after-decl", "after-comment", "after-whitespace", "after-pi", "utf-16", "utf-16-no-bom",
         "utf-32", "entity", "lower-case"],
)  # fmt: skip
def test_a_dtd_anywhere_in_the_prolog_in_any_encoding_is_refused_before_parsing(body: bytes) -> None:
    assert wx.declares_dtd(body)
    with pytest.raises(wx.UnsafeXml, match="DOCTYPE"):
        wx.parse(body)


@pytest.mark.parametrize(
    "text",
    [
        ENVELOPE,
        '<?xml version="1.0"?><!-- a comment --><env:Envelope xmlns:env="urn:x"><name>&lt;!DOCTYPE x&gt;</name></env:Envelope>',
        '<env:Envelope xmlns:env="urn:x"><n><![CDATA[<!DOCTYPE x [<!ENTITY e "v">]>]]></n></env:Envelope>',
    ],
    ids=["plain", "escaped-in-text", "in-cdata"],
)
def test_a_doctype_inside_the_document_as_text_is_data_not_a_dtd(text: str) -> None:
    assert not wx.declares_dtd(text.encode())
    assert wx.local(wx.parse(text.encode())) == "Envelope"
