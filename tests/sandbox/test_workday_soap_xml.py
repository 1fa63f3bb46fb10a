"""SOAP XML the Workday sandbox emits: schema-valid, and consumable by a real zeep client."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
import zeep
from lxml import etree

from ml_connector.sandbox.workday import soap_xml, wsdl
from ml_connector.sandbox.workday.records import (
    Address,
    BusinessEntity,
    Contact,
    ContactData,
    Customer,
    Email,
    PersonName,
    Phone,
    Reference,
    Supplier,
    Usage,
    WebAddress,
    Worktag,
)

WD = "urn:com.workday/bsvc"
ENV = "http://schemas.xmlsoap.org/soap/envelope/"
NS = {"wd": WD, "env": ENV, "SOAP-ENV": ENV}
FILTER = soap_xml.ResponseFilter(
    as_of_effective_date=date(2026, 11, 27),
    as_of_entry_datetime=datetime(2026, 11, 27, 9, 30, tzinfo=UTC),
    page=1,
    count=100,
)


# -- sample records ---------------------------------------------------------------------------------


def _ref(id_type: str, value: str, descriptor: str | None = None) -> Reference:
    return Reference(soap_xml.synthetic_wid(id_type, value), ((id_type, value),), descriptor or value)


def _contact_data(n: int, *, tricky: bool = False) -> ContactData:
    business = Usage("BUSINESS", primary=True)
    street = 'Rue "Neuve" 5 & <Annex>' if tricky else f"{n} Market Street"
    return ContactData(
        addresses=(
            Address(
                address_id=f"ADDRESS_REFERENCE-{n}",
                lines=(street, "Suite 200"),
                municipality="San Francisco",
                country_code="US",
                region_code="US-CA",
                region_name="California",
                postal_code="94105",
                usage=business,
                effective_date=date(2020, 1, 1),
                last_modified=datetime(2025, 3, 4, 10, 11, 12, tzinfo=UTC),
                formatted=f"{street}\nSuite 200\nSan Francisco, CA 94105\nUnited States of America",
            ),
        ),
        phones=(
            Phone(
                f"PHONE-{n}",
                "USA",
                "1",
                "415",
                "555-0100",
                "12",
                "Landline",
                business,
                "+1 (415) 555-0100",
                "",
            ),
            Phone(
                f"PHONE-{n}-M",
                "USA",
                "1",
                "415",
                "555-0199",
                None,
                "Mobile",
                Usage("BUSINESS"),
                "+1 (415) 555-0199",
                "",
            ),
        ),
        emails=(Email(f"EMAIL-{n}", f"billing{n}@example.com", business),),
        web=(WebAddress(f"WEB-{n}", f"https://example{n}.com", business),),
    )


def make_customer(n: int, *, tricky: bool = False, supplier_id: str | None = None) -> Customer:
    name = "Smith & Sons <Ltd>" if tricky else f"Customer {n} Inc."
    return Customer(
        reference=Reference(
            soap_xml.synthetic_wid("Customer", str(n)),
            (("Customer_ID", f"CUS-{n:05d}"), ("Customer_Reference_ID", f"C{n}")),
            name,
        ),
        customer_id=f"CUS-{n:05d}",
        customer_reference_id=f"C{n}",
        entity=BusinessEntity(name, f"EXT-{n}", f"94-{n:07d}", _contact_data(n, tricky=tricky)),
        category=_ref("Customer_Category_ID", "CORPORATE", "Corporate"),
        payment_terms=_ref("Payment_Terms_ID", "NET_30", "Net 30"),
        currency=_ref("Currency_ID", "USD"),
        credit_limit=25000.5,
        status=_ref("Business_Entity_Status_Value_ID", "ACTIVE", "Active"),
        worktags=(
            Worktag(
                _ref("Accounting_Worktag_Type_ID", "INDUSTRY", "Industry"), _ref("Industry_ID", "SOFTWARE")
            ),
            Worktag(
                _ref("Accounting_Worktag_Type_ID", "REGION", "Region"), _ref("Region_Reference_ID", "WEST")
            ),
        ),
        supplier_id=supplier_id,
        groups=(_ref("Customer_Group_ID", "KEY_ACCOUNTS", "Key Accounts"),),
    )


def make_supplier(n: int, *, customer_id: str | None = None) -> Supplier:
    name = f"Supplier {n} GmbH"
    return Supplier(
        reference=Reference(
            soap_xml.synthetic_wid("Supplier", str(n)),
            (("Supplier_ID", f"SUP-{n:05d}"), ("Supplier_Reference_ID", f"S{n}")),
            name,
        ),
        supplier_id=f"SUP-{n:05d}",
        supplier_reference_id=f"S{n}",
        entity=BusinessEntity(name, None, f"DE{n:09d}", _contact_data(n)),
        category=_ref("Supplier_Category_ID", "SERVICES", "Services"),
        groups=(_ref("Supplier_Group_ID", "PREFERRED", "Preferred"),),
        payment_terms=_ref("Payment_Terms_ID", "NET_45", "Net 45"),
        currency=_ref("Currency_ID", "EUR"),
        status=_ref("Business_Entity_Status_Value_ID", "INACTIVE", "Inactive"),
        approval_status=_ref("Document_Status_ID", "APPROVED", "Approved"),
        worktags=(),
        customer_id=customer_id,
    )


def make_contact(n: int, *, customer_id: str | None = None, supplier_id: str | None = None) -> Contact:
    return Contact(
        reference=Reference(
            soap_xml.synthetic_wid("Contact", str(n)),
            (("Business_Entity_Contact_ID", f"BEC-{n}"),),
            f"Jane Doe {n}",
        ),
        contact_id=f"BEC-{n}",
        name=PersonName("Jane", f"Doe{n}", middle="Q", prefix="Dr."),
        contact=ContactData(emails=(Email(f"EMAIL-C{n}", f"jane{n}@example.com", Usage("BUSINESS", True)),)),
        customer_id=customer_id,
        supplier_id=supplier_id,
        primary_bill_to=True,
        external_ids=(f"CRM-{n}",),
    )


# -- helpers --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clients(tmp_path_factory: pytest.TempPathFactory) -> dict[str, zeep.Client]:
    folder: Path = tmp_path_factory.mktemp("wsdl")
    loaded = {}
    for service in wsdl.SERVICES:
        path = folder / f"{service}.wsdl"
        path.write_bytes(wsdl.render_wsdl(service, f"http://127.0.0.1:9/ccx/service/acme/{service}/v45.2"))
        loaded[service] = zeep.Client(str(path), settings=zeep.Settings(strict=True, xml_huge_tree=True))
    return loaded


def zeep_reply(clients: dict[str, zeep.Client], operation: str, body: bytes, status: int = 200) -> Any:
    """What a zeep client returns (or raises) for ``body`` received as the HTTP reply to ``operation``."""
    service = wsdl.OPERATION_SERVICE[operation]
    client = clients[service]
    binding = client.wsdl.bindings[f"{{{WD}/{service}}}{service}Binding"]
    response = requests.Response()
    response.status_code = status
    response.headers["Content-Type"] = "text/xml; charset=utf-8"
    response._content = body
    return binding.process_reply(client, binding._operations[operation], response)


def body_element(xml: bytes) -> etree._Element:
    root = etree.fromstring(xml)
    assert root.tag == f"{{{ENV}}}Envelope"
    return root[0][0]


def page(records: Sequence[Any], total: int | None = None) -> soap_xml.PageResults:
    total = len(records) if total is None else total
    return soap_xml.PageResults(
        total_results=total, total_pages=1 if total else 0, page_results=len(records), page=1
    )


# -- responses ------------------------------------------------------------------------------------


def test_customers_page_is_valid_and_zeep_reads_it(clients: dict[str, zeep.Client]) -> None:
    records = [make_customer(1), make_customer(2, tricky=True, supplier_id="SUP-00002")]
    xml = soap_xml.render_response(
        "Get_Customers", records, page(records, 250), version="v45.2", response_filter=FILTER
    )
    assert xml.startswith(b"<?xml version='1.0' encoding='UTF-8'?>\n<env:Envelope")
    response = body_element(xml)
    assert response.tag == f"{{{WD}}}Get_Customers_Response"
    assert response.get(f"{{{WD}}}version") == "v45.2"
    assert wsdl.validate_element(response) == []

    result = zeep_reply(clients, "Get_Customers", xml)
    assert result.Response_Results[0].Total_Results == Decimal(250)
    assert result.Response_Filter[0].As_Of_Entry_DateTime == FILTER.as_of_entry_datetime
    first, second = result.Response_Data.Customer
    assert [(i.type, i._value_1) for i in first.Customer_Reference.ID][1:] == [
        ("Customer_ID", "CUS-00001"),
        ("Customer_Reference_ID", "C1"),
    ]
    data = second.Customer_Data
    assert data.Customer_Name == "Smith & Sons <Ltd>"
    assert data.Credit_Limit == Decimal("25000.5")
    assert data.Create_Customer_from_Supplier_Reference.ID[0]._value_1 == "SUP-00002"
    assert data.Customer_Status_Data[0].Customer_Status_Value_Reference.ID[1]._value_1 == "ACTIVE"
    assert data.Customer_Group_Reference[0].Descriptor == "Key Accounts"
    worktags = data.Related_Worktags_Data.Related_Worktags_by_Type_Data
    assert [w.Default_Worktag_Data.Default_Worktag_Reference.ID[1]._value_1 for w in worktags] == [
        "SOFTWARE",
        "WEST",
    ]
    address = data.Business_Entity_Data.Contact_Data.Address_Data[0]
    assert address.Formatted_Address.splitlines()[0] == 'Rue "Neuve" 5 & <Annex>'
    assert address.Effective_Date == date(2020, 1, 1)
    assert [line.Type for line in address.Address_Line_Data] == ["ADDRESS_LINE_1", "ADDRESS_LINE_2"]
    assert address.Country_Region_Reference.ID[1].type == "ISO_3166-2_Code"
    assert address.Usage_Data[0].Type_Data[0].Primary is True
    phone = data.Business_Entity_Data.Contact_Data.Phone_Data[0]
    assert (phone.Formatted_Phone, phone.Phone_Extension) == ("+1 (415) 555-0100", "12")


def test_suppliers_page_is_valid_and_zeep_reads_it(clients: dict[str, zeep.Client]) -> None:
    records = [make_supplier(1), make_supplier(2, customer_id="CUS-00002")]
    xml = soap_xml.render_response(
        "Get_Suppliers", records, page(records), version="v44.1", response_filter=FILTER
    )
    assert wsdl.validate_element(body_element(xml)) == []
    result = zeep_reply(clients, "Get_Suppliers", xml)
    assert result.Response_Results.Page_Results == Decimal(2)
    data = result.Response_Data.Supplier[1].Supplier_Data
    assert data.Supplier_ID == "SUP-00002"
    assert data.Approval_Status_Reference.ID[1]._value_1 == "APPROVED"
    assert data.Supplier_Status_Data[0].Status_Reference.ID[1]._value_1 == "INACTIVE"
    assert data.Create_Supplier_from_Customer_Reference.ID[0].type == "Customer_ID"
    assert data.Business_Entity_Data.Business_Entity_Tax_ID == "DE000000002"
    assert data.Tax_ID_Data[0].Primary_Tax_ID is True


def test_contacts_page_is_valid_and_zeep_reads_it(clients: dict[str, zeep.Client]) -> None:
    records = [make_contact(1, customer_id="CUS-00001"), make_contact(2, supplier_id="SUP-00001")]
    xml = soap_xml.render_response(
        "Get_Business_Entity_Contacts", records, page(records), version="v45.2", response_filter=FILTER
    )
    assert wsdl.validate_element(body_element(xml)) == []
    result = zeep_reply(clients, "Get_Business_Entity_Contacts", xml)
    first, second = result.Response_Data.Business_Entity_Contact
    data = first.Business_Entity_Contact_Data[0]
    assert data.Billable_Entity_Reference.ID[0].type == "Customer_ID"
    assert second.Business_Entity_Contact_Data[0].Supplier_Reference.ID[0]._value_1 == "SUP-00001"
    name = data.Business_Entity_Contact_Personal_Data.Name_Data[0].Name_Detail_Data
    assert (name.Formatted_Name, name.First_Name, name.Last_Name) == ("Dr. Jane Q Doe1", "Jane", "Doe1")
    email = data.Business_Entity_Contact_Personal_Data.Contact_Data.Email_Address_Data[0]
    assert email.Email_Address == "jane1@example.com"
    assert data.External_ID_Data.ID[0]._value_1 == "CRM-1"


def test_contact_without_owner_is_refused() -> None:
    with pytest.raises(ValueError, match="neither"):
        soap_xml.render_response(
            "Get_Business_Entity_Contacts",
            [make_contact(1)],
            page([1]),
            version="v45.2",
            response_filter=FILTER,
        )


def test_empty_page_has_no_response_data(clients: dict[str, zeep.Client]) -> None:
    xml = soap_xml.render_response("Get_Suppliers", [], page([], 0), version="v45.2", response_filter=FILTER)
    response = body_element(xml)
    assert response.find("wd:Response_Data", NS) is None
    assert response.findtext("wd:Response_Results/wd:Total_Results", namespaces=NS) == "0"
    assert wsdl.validate_element(response) == []
    assert zeep_reply(clients, "Get_Suppliers", xml).Response_Data is None


def test_descriptors_only_when_asked() -> None:
    records = [make_customer(1)]
    args: dict[str, Any] = {"version": "v45.2", "response_filter": FILTER}
    with_descriptors = soap_xml.render_response("Get_Customers", records, page(records), **args)
    without = soap_xml.render_response(
        "Get_Customers", records, page(records), include_descriptors=False, **args
    )
    assert b'wd:Descriptor="Corporate"' in with_descriptors
    assert b"wd:Descriptor=" not in without.replace(b'wd:Descriptor="Address Line', b"")
    assert wsdl.validate_element(body_element(without)) == []


def test_request_elements_are_echoed_under_wd(clients: dict[str, zeep.Client]) -> None:
    request = etree.fromstring(
        f'<ns0:Get_Suppliers_Request xmlns:ns0="{WD}"><ns0:Request_Criteria>'
        "<ns0:Updated_From_Date>2026-01-01T00:00:00Z</ns0:Updated_From_Date>"
        '<ns0:Supplier_Category_Reference><ns0:ID ns0:type="Supplier_Category_ID">SERVICES</ns0:ID>'
        "</ns0:Supplier_Category_Reference></ns0:Request_Criteria>"
        "<ns0:Response_Group><ns0:Include_Reference>true</ns0:Include_Reference></ns0:Response_Group>"
        "</ns0:Get_Suppliers_Request>"
    )
    records = [make_supplier(1)]
    xml = soap_xml.render_response(
        "Get_Suppliers",
        records,
        page(records),
        version="v45.2",
        response_filter=FILTER,
        request_criteria=request[0],
        response_group=request[1],
    )
    assert b"ns0" not in xml
    response = body_element(xml)
    assert [etree.QName(c).localname for c in response] == [
        "Request_Criteria",
        "Response_Filter",
        "Response_Group",
        "Response_Results",
        "Response_Data",
    ]
    assert wsdl.validate_element(response) == []
    criteria = zeep_reply(clients, "Get_Suppliers", xml).Request_Criteria
    assert criteria.Supplier_Category_Reference[0].ID[0]._value_1 == "SERVICES"


def test_page_of_999_customers_renders_valid() -> None:
    """A full page is valid against the WSDL (how fast it renders: ``make bench``)."""
    records = [make_customer(n) for n in range(999)]
    results = soap_xml.PageResults(total_results=2500, total_pages=3, page_results=999, page=1)
    xml = soap_xml.render_response("Get_Customers", records, results, version="v45.2", response_filter=FILTER)
    assert wsdl.validate_element(body_element(xml)) == []


def test_control_characters_are_written_as_workday_writes_them_and_other_invalid_ones_refused() -> None:
    """``&#x1;`` is what a tenant's legacy data produces on the wire: not well-formed XML 1.0."""
    body = soap_xml.render_response(
        "Get_Customers",
        [make_customer(1, supplier_id="SUP\x01")],
        page([1]),
        version="v45.2",
        response_filter=FILTER,
    )
    assert b"SUP&#x1;" in body
    with pytest.raises(ValueError):
        soap_xml.render_response(
            "Get_Customers",
            [make_customer(1, supplier_id="SUP\ufffe")],
            page([1]),
            version="v45.2",
            response_filter=FILTER,
        )


# -- faults -----------------------------------------------------------------------------------------


def _fault(xml: bytes) -> etree._Element:
    fault = body_element(xml)
    assert fault.tag == f"{{{ENV}}}Fault"
    assert xml.split(b"?>", 1)[1].lstrip().startswith(b"<SOAP-ENV:Envelope")
    return fault


def test_validation_fault(clients: dict[str, zeep.Client]) -> None:
    message = "Invalid ID value.  'X' is not a valid ID value for type = 'Customer_ID'"
    xpath = "/wd:Get_Customers_Request[1]/wd:Request_References[1]/wd:Customer_Reference[1]/wd:ID[1]"
    xml = soap_xml.render_fault("validation", message, errors=[(message, message, xpath)])
    fault = _fault(xml)
    assert fault.findtext("faultcode") == "SOAP-ENV:Client.validationError"
    assert fault.findtext("faultstring") == f"Validation error occurred. {message}"
    detail = fault.find("detail/wd:Validation_Fault", NS)
    assert detail is not None and wsdl.validate_element(detail) == []
    assert detail.findtext("wd:Validation_Error/wd:Xpath", namespaces=NS) == xpath
    with pytest.raises(zeep.exceptions.Fault) as raised:
        zeep_reply(clients, "Get_Customers", xml, status=500)
    assert raised.value.code == "SOAP-ENV:Client.validationError"
    assert raised.value.message == f"Validation error occurred. {message}"
    assert raised.value.detail.find("wd:Validation_Fault/wd:Validation_Error/wd:Message", NS).text == message


def test_validation_fault_without_error_list() -> None:
    xml = soap_xml.render_fault(
        "validation", "The web service or version is invalid for the requested operation"
    )
    detail = _fault(xml).find("detail/wd:Validation_Fault", NS)
    assert detail is not None and wsdl.validate_element(detail) == []
    assert len(detail) == 1


def test_authentication_fault(clients: dict[str, zeep.Client]) -> None:
    xml = soap_xml.render_fault("authentication", "invalid username or password")
    fault = _fault(xml)
    assert fault.findtext("faultcode") == "SOAP-ENV:Client.authenticationError"
    assert fault.find("detail") is None
    with pytest.raises(zeep.exceptions.Fault) as raised:
        zeep_reply(clients, "Get_Suppliers", xml, status=500)
    assert (raised.value.code, raised.value.message) == (
        "SOAP-ENV:Client.authenticationError",
        "invalid username or password",
    )


def test_processing_fault(clients: dict[str, zeep.Client]) -> None:
    xml = soap_xml.render_fault("processing", "The task submitted is not authorized.")
    fault = _fault(xml)
    assert fault.findtext("faultcode") == "SOAP-ENV:Server.processingError"
    assert fault.findtext("faultstring") == "Processing error occurred. The task submitted is not authorized."
    detail = fault.find("detail/wd:Processing_Fault", NS)
    assert detail is not None and wsdl.validate_element(detail) == []
    assert detail.findtext("wd:Detail_Message", namespaces=NS) == "The task submitted is not authorized."
    with pytest.raises(zeep.exceptions.Fault) as raised:
        zeep_reply(clients, "Get_Business_Entity_Contacts", xml, status=500)
    assert raised.value.code == "SOAP-ENV:Server.processingError"
