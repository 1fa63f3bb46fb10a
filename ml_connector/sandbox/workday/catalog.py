"""Reference tables of the sandbox tenant: countries, names, categories, payment terms, worktags.

Small hand-written tables instead of a fake-data dependency: they only need to be varied enough that
the connector meets accents, non-Latin-default formats, several currencies and optional regions.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class City:
    name: str
    region_code: str | None  # ISO 3166-2
    region_name: str | None
    area_code: str


@dataclass(frozen=True)
class Country:
    alpha2: str
    alpha3: str
    name: str
    phone_code: str
    currency: str
    tld: str
    postal: str  # pattern: 9 → digit, A → letter, anything else literal; "" → no postal codes
    address_format: str  # "street_first" (Hauptstraße 5) or "number_first" (5 Main Street)
    cities: tuple[City, ...]
    streets: tuple[str, ...]
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    suffixes: tuple[str, ...]
    world_region: str  # the region worktag's value: AMER, EMEA, APAC


def _cities(*rows: tuple[str, str | None, str | None, str]) -> tuple[City, ...]:
    return tuple(City(*row) for row in rows)


COUNTRIES: tuple[Country, ...] = (
    Country("US", "USA", "United States of America", "1", "USD", "com", "99999", "number_first",
            _cities(("Chicago", "US-IL", "Illinois", "312"), ("Austin", "US-TX", "Texas", "512"),
                    ("San José", "US-CA", "California", "408"), ("Boston", "US-MA", "Massachusetts", "617")),
            ("Main Street", "Oak Avenue", "Lakeshore Drive", "Market Street", "Elm Street"),
            ("James", "Mary", "Robert", "Patricia", "Michael", "Jennifer", "D'Andre", "Chloé"),
            ("Smith", "Johnson", "Williams", "Brown", "O'Connor", "García", "Nguyen", "Miller"),
            ("Inc.", "LLC", "Corp.", "Co."), "AMER"),
    Country("CA", "CAN", "Canada", "1", "CAD", "ca", "A9A 9A9", "number_first",
            _cities(("Toronto", "CA-ON", "Ontario", "416"), ("Montréal", "CA-QC", "Quebec", "514"),
                    ("Vancouver", "CA-BC", "British Columbia", "604")),
            ("Rue Sainte-Catherine", "King Street West", "Granville Street", "Boulevard René-Lévesque"),
            ("Émilie", "Liam", "Noah", "Zoë", "Olivier", "Geneviève"),
            ("Tremblay", "Gagnon", "Roy", "Côté", "Bouchard", "MacDonald"),
            ("Inc.", "Ltd.", "Ltée"), "AMER"),
    Country("MX", "MEX", "Mexico", "52", "MXN", "com.mx", "99999", "street_first",
            _cities(("Ciudad de México", "MX-CMX", "Ciudad de México", "55"),
                    ("Guadalajara", "MX-JAL", "Jalisco", "33"), ("Monterrey", "MX-NLE", "Nuevo León", "81")),
            ("Avenida Reforma", "Calle Hidalgo", "Avenida Juárez", "Calle Morelos"),
            ("José", "María", "Juan", "Guadalupe", "Alejandro", "Sofía"),
            ("Hernández", "García", "Martínez", "López", "González", "Pérez"),
            ("S.A. de C.V.", "S. de R.L. de C.V."), "AMER"),
    Country("BR", "BRA", "Brazil", "55", "BRL", "com.br", "99999-999", "street_first",
            _cities(("São Paulo", "BR-SP", "São Paulo", "11"), ("Rio de Janeiro", "BR-RJ", "Rio de Janeiro", "21"),
                    ("Belo Horizonte", "BR-MG", "Minas Gerais", "31")),
            ("Avenida Paulista", "Rua Augusta", "Rua da Consolação", "Avenida Atlântica"),
            ("João", "Ana", "Luís", "Conceição", "Antônio", "Júlia"),
            ("Silva", "Santos", "Oliveira", "Souza", "Araújo", "Gonçalves"),
            ("Ltda.", "S.A."), "AMER"),
    Country("GB", "GBR", "United Kingdom", "44", "GBP", "co.uk", "AA9 9AA", "number_first",
            _cities(("London", "GB-LND", "London, City of", "20"), ("Manchester", "GB-MAN", "Manchester", "161"),
                    ("Edinburgh", "GB-EDH", "Edinburgh, City of", "131")),
            ("High Street", "Station Road", "Victoria Road", "Church Lane"),
            ("Oliver", "Amelia", "Harry", "Siobhán", "George", "Isla"),
            ("Taylor", "Davies", "Evans", "Wilson", "Thomas", "Ó Briain"),
            ("Ltd", "PLC", "LLP"), "EMEA"),
    Country("DE", "DEU", "Germany", "49", "EUR", "de", "99999", "street_first",
            _cities(("München", "DE-BY", "Bayern", "89"), ("Berlin", "DE-BE", "Berlin", "30"),
                    ("Köln", "DE-NW", "Nordrhein-Westfalen", "221"), ("Hamburg", "DE-HH", "Hamburg", "40")),
            ("Hauptstraße", "Schillerstraße", "Königsallee", "Bahnhofstraße", "Gartenweg"),
            ("Jürgen", "Uwe", "Anna", "Jörg", "Käthe", "Lukas"),
            ("Müller", "Schmidt", "Schröder", "Weiß", "Groß", "Becker"),
            ("GmbH", "AG", "GmbH & Co. KG"), "EMEA"),
    Country("FR", "FRA", "France", "33", "EUR", "fr", "99999", "number_first",
            _cities(("Paris", "FR-IDF", "Île-de-France", "1"), ("Lyon", "FR-ARA", "Auvergne-Rhône-Alpes", "4"),
                    ("Marseille", "FR-PAC", "Provence-Alpes-Côte d'Azur", "4")),
            ("rue de la Paix", "avenue des Champs-Élysées", "boulevard Haussmann", "rue Émile Zola"),
            ("Françoise", "Hélène", "François", "Jérôme", "Amélie", "Gaël"),
            ("Lefèvre", "Dubois", "Moreau", "Laurent", "Girard", "Bérenger"),
            ("S.A.", "SARL", "SAS"), "EMEA"),
    Country("ES", "ESP", "Spain", "34", "EUR", "es", "99999", "street_first",
            _cities(("Madrid", "ES-MD", "Madrid, Comunidad de", "91"), ("Barcelona", "ES-CT", "Cataluña", "93"),
                    ("Sevilla", "ES-AN", "Andalucía", "95")),
            ("Calle de Alcalá", "Gran Vía", "Paseo de Gracia", "Calle Mayor"),
            ("José", "Nuria", "Íñigo", "Begoña", "Álvaro", "Mónica"),
            ("Fernández", "Rodríguez", "Sánchez", "Muñoz", "Jiménez", "Ibáñez"),
            ("S.A.", "S.L."), "EMEA"),
    Country("IT", "ITA", "Italy", "39", "EUR", "it", "99999", "street_first",
            _cities(("Milano", "IT-25", "Lombardia", "02"), ("Roma", "IT-62", "Lazio", "06"),
                    ("Torino", "IT-21", "Piemonte", "011")),
            ("Via Roma", "Corso Vittorio Emanuele II", "Via Garibaldi", "Piazza del Duomo"),
            ("Niccolò", "Giulia", "Lucía", "Matteo", "Nicolò", "Chiara"),
            ("Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Fabbrì"),
            ("S.p.A.", "S.r.l."), "EMEA"),
    Country("NL", "NLD", "Netherlands", "31", "EUR", "nl", "9999 AA", "street_first",
            _cities(("Amsterdam", "NL-NH", "Noord-Holland", "20"), ("Rotterdam", "NL-ZH", "Zuid-Holland", "10"),
                    ("Utrecht", "NL-UT", "Utrecht", "30")),
            ("Keizersgracht", "Coolsingel", "Damrak", "Oudegracht"),
            ("Daan", "Sanne", "Joëlle", "Bram", "Fenna", "Thijs"),
            ("de Jong", "Jansen", "van den Berg", "Bakker", "Visser", "van Dijk"),
            ("B.V.", "N.V."), "EMEA"),
    Country("SE", "SWE", "Sweden", "46", "SEK", "se", "999 99", "street_first",
            _cities(("Stockholm", "SE-AB", "Stockholms län", "8"), ("Göteborg", "SE-O", "Västra Götalands län", "31"),
                    ("Malmö", "SE-M", "Skåne län", "40")),
            ("Drottninggatan", "Storgatan", "Kungsgatan", "Östra Hamngatan"),
            ("Åsa", "Björn", "Linnéa", "Måns", "Ebba", "Göran"),
            ("Andersson", "Johansson", "Löfgren", "Åberg", "Öberg", "Nyström"),
            ("AB",), "EMEA"),
    Country("NO", "NOR", "Norway", "47", "NOK", "no", "9999", "street_first",
            _cities(("Oslo", "NO-03", "Oslo", "22"), ("Bergen", "NO-46", "Vestland", "55"),
                    ("Trondheim", "NO-50", "Trøndelag", "73")),
            ("Karl Johans gate", "Bryggen", "Strandgaten", "Munkegata"),
            ("Ørjan", "Solveig", "Håkon", "Ingrid", "Bjørn", "Kari"),
            ("Ødegård", "Hansen", "Bråten", "Søreide", "Haugen", "Kjærstad"),
            ("AS", "ASA"), "EMEA"),
    Country("PL", "POL", "Poland", "48", "PLN", "pl", "99-999", "street_first",
            _cities(("Warszawa", "PL-14", "Mazowieckie", "22"), ("Kraków", "PL-12", "Małopolskie", "12"),
                    ("Gdańsk", "PL-22", "Pomorskie", "58"), ("Łódź", "PL-10", "Łódzkie", "42")),
            ("ulica Marszałkowska", "ulica Floriańska", "aleja Jerozolimskie", "ulica Długa"),
            ("Łukasz", "Małgorzata", "Wojciech", "Zofia", "Paweł", "Agnieszka"),
            ("Nowak", "Kowalski", "Wiśniewski", "Wójcik", "Kamiński", "Zieliński"),
            ("Sp. z o.o.", "S.A."), "EMEA"),
    Country("CZ", "CZE", "Czechia", "420", "CZK", "cz", "999 99", "street_first",
            _cities(("Praha", "CZ-10", "Hlavní město Praha", "2"), ("Brno", "CZ-64", "Jihomoravský kraj", "5")),
            ("Václavské náměstí", "Národní třída", "Masarykova", "Husova"),
            ("Jiří", "Tereza", "Tomáš", "Lucie", "Petr", "Kateřina"),
            ("Šťastný", "Dvořák", "Novotný", "Černý", "Procházka", "Kučera"),
            ("s.r.o.", "a.s."), "EMEA"),
    Country("JP", "JPN", "Japan", "81", "JPY", "co.jp", "999-9999", "number_first",
            _cities(("Tokyo", "JP-13", "Tokyo", "3"), ("Osaka", "JP-27", "Osaka", "6"), ("Nagoya", "JP-23", "Aichi", "52")),
            ("Chiyoda 1-chōme", "Umeda 2-chōme", "Sakae 3-chōme", "Ginza 4-chōme"),
            ("Haruto", "Yūki", "Sōta", "Aoi", "Ren", "Yui"),
            ("Satō", "Suzuki", "Takahashi", "Tanaka", "Itō", "Watanabe"),
            ("K.K.", "Co., Ltd."), "APAC"),
    Country("AU", "AUS", "Australia", "61", "AUD", "com.au", "9999", "number_first",
            _cities(("Sydney", "AU-NSW", "New South Wales", "2"), ("Melbourne", "AU-VIC", "Victoria", "3"),
                    ("Brisbane", "AU-QLD", "Queensland", "7")),
            ("George Street", "Collins Street", "Queen Street", "Bourke Street"),
            ("Jack", "Charlotte", "William", "Matilda", "Lachlan", "Zoë"),
            ("Walker", "Kelly", "O'Brien", "Ryan", "Clarke", "Nguyễn"),
            ("Pty Ltd", "Ltd"), "APAC"),
    Country("IN", "IND", "India", "91", "INR", "co.in", "999999", "number_first",
            _cities(("Mumbai", "IN-MH", "Maharashtra", "22"), ("Bengaluru", "IN-KA", "Karnataka", "80"),
                    ("New Delhi", "IN-DL", "Delhi", "11")),
            ("MG Road", "Linking Road", "Brigade Road", "Connaught Place"),
            ("Aarav", "Priya", "Vihaan", "Ananya", "Rohan", "Saanvi"),
            ("Sharma", "Patel", "Iyer", "Reddy", "Gupta", "Nair"),
            ("Pvt. Ltd.", "Ltd."), "APAC"),
    Country("ZA", "ZAF", "South Africa", "27", "ZAR", "co.za", "9999", "number_first",
            _cities(("Johannesburg", "ZA-GP", "Gauteng", "11"), ("Cape Town", "ZA-WC", "Western Cape", "21"),
                    ("Durban", "ZA-KZN", "KwaZulu-Natal", "31")),
            ("Jan Smuts Avenue", "Long Street", "Florida Road", "Rivonia Road"),
            ("Thabo", "Naledi", "Pieter", "Lindiwe", "Sipho", "Anré"),
            ("Nkosi", "van der Merwe", "Dlamini", "Botha", "Mokoena", "Naudé"),
            ("(Pty) Ltd", "Ltd"), "EMEA"),
)  # fmt: skip

# Weight of each country (same order as COUNTRIES): most of the book is domestic US business.
COUNTRY_WEIGHTS: tuple[int, ...] = (24, 6, 4, 4, 8, 8, 6, 4, 4, 4, 3, 2, 4, 2, 4, 4, 5, 4)

CURRENCY_NUMERIC: dict[str, str] = {
    "USD": "840", "CAD": "124", "MXN": "484", "BRL": "986", "GBP": "826", "EUR": "978", "SEK": "752",
    "NOK": "578", "PLN": "985", "CZK": "203", "JPY": "392", "AUD": "036", "INR": "356", "ZAR": "710",
}  # fmt: skip

CUSTOMER_CATEGORIES: tuple[tuple[str, str], ...] = (
    ("CORPORATE", "Corporate"),
    ("SMB", "Small and Medium Business"),
    ("GOVERNMENT", "Government"),
    ("EDUCATION", "Education"),
    ("NONPROFIT", "Non-Profit"),
    ("RESELLER", "Reseller"),
)
CUSTOMER_CATEGORY_WEIGHTS: tuple[int, ...] = (40, 30, 8, 7, 5, 10)

CUSTOMER_GROUPS: tuple[tuple[str, str], ...] = (
    ("STRATEGIC_ACCOUNTS", "Strategic Accounts"),
    ("KEY_ACCOUNTS", "Key Accounts"),
    ("CHANNEL_PARTNERS", "Channel Partners"),
    ("PUBLIC_SECTOR", "Public Sector"),
)

SUPPLIER_CATEGORIES: tuple[tuple[str, str], ...] = (
    ("RAW_MATERIALS", "Raw Materials"),
    ("IT_SERVICES", "IT Services"),
    ("LOGISTICS", "Logistics and Freight"),
    ("PROFESSIONAL_SERVICES", "Professional Services"),
    ("FACILITIES", "Facilities"),
    ("MARKETING", "Marketing"),
)

SUPPLIER_GROUPS: tuple[tuple[str, str], ...] = (
    ("PREFERRED", "Preferred Suppliers"),
    ("STRATEGIC", "Strategic Suppliers"),
    ("ONE_TIME", "One-Time Suppliers"),
    ("DIVERSE", "Diverse Suppliers"),
)

PAYMENT_TERMS: tuple[tuple[str, str], ...] = (
    ("NET_30", "Net 30"),
    ("NET_15", "Net 15"),
    ("NET_45", "Net 45"),
    ("NET_60", "Net 60"),
    ("DUE_ON_RECEIPT", "Due On Receipt"),
    ("2_10_NET_30", "2% 10, Net 30"),
)
PAYMENT_TERMS_WEIGHTS: tuple[int, ...] = (45, 10, 12, 13, 8, 12)

STATUSES: tuple[tuple[str, str], ...] = (("ACTIVE", "Active"), ("INACTIVE", "Inactive"))

INDUSTRIES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    # (worktag value, descriptor, words that make plausible company names)
    ("MANUFACTURING", "Manufacturing", ("Industrial", "Precision", "Components", "Machining", "Tooling")),
    ("SOFTWARE", "Software and Internet", ("Software", "Digital", "Cloud", "Data", "Systems")),
    ("HEALTHCARE", "Healthcare", ("Health", "Medical", "Clinic", "Pharma", "Life Sciences")),
    ("RETAIL", "Retail and Consumer", ("Retail", "Stores", "Brands", "Outfitters", "Market")),
    ("ENERGY", "Energy and Utilities", ("Energy", "Power", "Solar", "Renewables", "Grid")),
    ("FINANCIAL", "Financial Services", ("Capital", "Finance", "Partners", "Holdings", "Advisors")),
    ("LOGISTICS", "Transportation and Logistics", ("Logistics", "Freight", "Transport", "Shipping", "Cargo")),
    ("FOOD", "Food and Beverage", ("Foods", "Bakery", "Beverages", "Dairy", "Organics")),
)

SEGMENTS: tuple[tuple[str, str], ...] = (
    ("ENTERPRISE", "Enterprise"),
    ("MID_MARKET", "Mid-Market"),
    ("SMALL_BUSINESS", "Small Business"),
)

WORLD_REGIONS: dict[str, str] = {
    "AMER": "Americas",
    "EMEA": "Europe, Middle East and Africa",
    "APAC": "Asia Pacific",
}

NAME_WORDS: tuple[str, ...] = (
    "Northwind", "Contoso", "Fabrikam", "Blue Harbor", "Summit", "Evergreen", "Silverline", "Ironwood",
    "Aurora", "Meridian", "Crescent", "Granite", "Falcon", "Harbor Point", "Pinnacle", "Riverbend",
    "Alpine", "Bright Path", "Cedar", "Nordlicht", "Sol Naciente", "Étoile", "Stella", "Kōyō", "Atlas",
)  # fmt: skip

CONTACT_TITLES: tuple[str, ...] = ("Dr.", "Mr.", "Ms.", "Mrs.")
