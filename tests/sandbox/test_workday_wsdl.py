"""The sandbox WSDL: loadable by a strict zeep client, and its shared types identical to a real Workday WSDL."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import zeep
from lxml import etree
from reference.derive import DIGESTS, component_key, components, normalise_component

from ml_connector.sandbox.workday import wsdl

XS = "http://www.w3.org/2001/XMLSchema"
WD = "urn:com.workday/bsvc"
NS = {"xsd": XS, "wd": WD, "wsdl": "http://schemas.xmlsoap.org/wsdl/"}


def _location(service: str, version: str = "v45.2") -> str:
    return f"http://127.0.0.1:9/ccx/service/acme/{service}/{version}"


def _client(tmp_path: Path, service: str) -> zeep.Client:
    path = tmp_path / f"{service}.wsdl"
    path.write_bytes(wsdl.render_wsdl(service, _location(service)))
    return zeep.Client(str(path), settings=zeep.Settings(strict=True, xml_huge_tree=True))


def test_operation_service_mapping() -> None:
    assert wsdl.OPERATION_SERVICE == {
        "Get_Customers": "Revenue_Management",
        "Get_Business_Entity_Contacts": "Revenue_Management",
        "Get_Suppliers": "Resource_Management",
    }


@pytest.mark.parametrize("service", sorted(wsdl.SERVICES))
def test_zeep_loads_the_wsdl(tmp_path: Path, service: str) -> None:
    client = _client(tmp_path, service)
    binding = client.wsdl.bindings[f"{{{WD}/{service}}}{service}Binding"]
    assert sorted(binding._operations) == sorted(wsdl.SERVICES[service])
    for name, operation in binding._operations.items():
        assert operation.input.body.qname == etree.QName(WD, f"{name}_Request")
        assert operation.output.body.qname == etree.QName(WD, f"{name}_Response")
        header = operation.input.header.type.elements[0][1]
        assert header.qname == etree.QName(WD, "Workday_Common_Header")
    port = client.wsdl.services[f"{service}Service"].ports[service]
    assert port.binding_options["address"] == _location(service)


def test_wsdl_mirrors_the_real_skeleton() -> None:
    root = etree.fromstring(wsdl.render_wsdl("Revenue_Management", _location("Revenue_Management", "v44.1")))
    assert root.get("targetNamespace") == f"{WD}/Revenue_Management"
    op = root.find("wsdl:portType[@name='Revenue_ManagementPort']/wsdl:operation[@name='Get_Customers']", NS)
    assert op is not None
    assert [f.get("name") for f in op.findall("wsdl:fault", NS)] == ["Validation_Fault", "Processing_Fault"]
    assert op.find("wsdl:input", NS).get("message") == "wd-wsdl:Get_Customers_RequestInputMsg"  # type: ignore[union-attr]
    version = root.find(".//xsd:schema/xsd:attribute[@name='version']", NS)
    assert version is not None and version.get(f"{{{WD}}}fixed") == "v44.1"
    # each service carries only its own operations' types
    assert root.find(".//xsd:element[@name='Get_Suppliers_Request']", NS) is None
    assert root.find(".//xsd:complexType[@name='Customer_WWS_DataType']", NS) is not None


def test_zeep_request_validates_against_the_schema(tmp_path: Path) -> None:
    client = _client(tmp_path, "Resource_Management")
    service = client.create_service(
        f"{{{WD}/Resource_Management}}Resource_ManagementBinding", _location("Resource_Management")
    )
    header = client.get_element(f"{{{WD}}}Workday_Common_Header")(
        Include_Reference_Descriptors_In_Response=True
    )
    envelope = client.create_message(
        service,
        "Get_Suppliers",
        Request_Criteria={
            "Updated_From_Date": "2026-01-01T00:00:00Z",
            "Updated_To_Date": "2026-02-01T00:00:00Z",
        },
        Response_Filter={"Page": 2, "Count": 999},
        version="v45.2",
        _soapheaders=[header],
    )
    body = envelope.find("{http://schemas.xmlsoap.org/soap/envelope/}Body")
    assert body is not None
    assert wsdl.validate_element(body[0]) == []


def test_validation_errors_carry_workday_xpaths() -> None:
    request = etree.fromstring(
        f'<ns0:Get_Customers_Request xmlns:ns0="{WD}"><ns0:Response_Filter><ns0:Page>1</ns0:Page>'
        "<ns0:Count>1000</ns0:Count></ns0:Response_Filter><ns0:Response_Filter><ns0:Bogus/>"
        "</ns0:Response_Filter></ns0:Get_Customers_Request>"
    )
    errors = wsdl.validate_element(request)
    assert [xpath for _, xpath in errors] == [
        "/wd:Get_Customers_Request[1]/wd:Response_Filter[1]/wd:Count[1]",
        "/wd:Get_Customers_Request[1]/wd:Response_Filter[2]/wd:Bogus[1]",
    ]
    assert "wd:Count" in errors[0][0] and "{" not in errors[0][0]
    # a default-namespace request gives libxml2's positional path; the xpath comes out the same
    plain = etree.fromstring(etree.tostring(request).replace(b"ns0:", b"").replace(b"xmlns:ns0", b"xmlns"))
    assert [xpath for _, xpath in wsdl.validate_element(plain)] == [xpath for _, xpath in errors]


def test_reference_id_types_come_from_the_v30_appinfo() -> None:
    types = wsdl.reference_id_types()
    assert types["CustomerReferenceEnumeration"] == ("WID", "Customer_ID", "Customer_Reference_ID")
    assert "ISO_3166-2_Code" in types["Country_RegionReferenceEnumeration"]


# -- fidelity to the real v30.0 WSDL ------------------------------------------------------------------


def test_shared_types_are_identical_to_v30() -> None:
    """Each component the sandbox's types file shares with the real v30.0 WSDL is the same schema, by
    the digests ``make reference`` derives from that WSDL (``tests/reference/workday_v30_digests.json``)."""
    v30 = json.loads(DIGESTS.read_text(encoding="utf-8"))
    ours = etree.parse(str(wsdl.TYPES_FILE)).getroot()
    checked, offenders = [], []
    for component in components(ours):
        key = component_key(component)
        real = v30.get(key)
        if real is None or key == "attribute:version":  # wd:fixed carries the tenant's version
            continue
        checked.append(key.split(":", 1)[1])
        if hashlib.sha256(normalise_component(component)).hexdigest() != real:
            offenders.append(key)
    assert offenders == [], f"differ from the v30.0 WSDL: {offenders}"
    must = {
        "Response_FilterType",
        "Response_ResultsType",
        "Validation_FaultType",
        "Validation_ErrorType",
        "Processing_FaultType",
        "Workday_Common_HeaderType",
        "Contact_Information_DataType",
        "Address_Information_DataType",
        "Phone_Information_DataType",
        "Get_Business_Entity_Contacts_RequestType",
        "Get_Business_Entity_Contacts_ResponseType",
        "CustomerReferenceEnumeration",
        "Validation_Fault",
        "Workday_Common_Header",
    }
    assert must <= set(checked), must - set(checked)
    assert len(checked) > 150


def test_v30_annotations_are_stripped_of_prose() -> None:
    text = wsdl.TYPES_FILE.read_text(encoding="utf-8")
    assert "xsd:documentation" not in text
    assert "<wd:Validation>" not in text
