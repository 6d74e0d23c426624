"""contacts: address books in and out, as the tools people use write them. Pure: it takes
file contents or paths and configuration values and returns values; it opens no database
(the composition root reads and writes the imported address book).

Reading: :func:`read_address_book` (CSV in failover's, Google's or Outlook's layout, vCard
2.1, 3.0 or 4.0; the encoding told or guessed), then :func:`parse_address_book` checks what
was read against the configuration (phone numbers, e-mail addresses, languages, time zones,
groups) and gives it defaults; :func:`parse_contacts_csv` and :func:`parse_vcards` do both
for text. :func:`check_importable` and :func:`plan_import` tell what an import changes in
the address book. Writing: :func:`export_contacts` (CSV or vCard 4.0, which import reads
back) and :func:`contact_rows` (``contacts list``). Every problem is a
:class:`~failover.errors.ContactImportError` naming rows, columns and ids, never a value.
"""

from failover.contacts._check import (
    ContactFormat,
    ImportedContact,
    ParsedContacts,
    parse_address_book,
    parse_contacts_csv,
    parse_vcards,
    read_address_book,
)
from failover.contacts._export import ContactRow, ExportReport, contact_rows, export_contacts
from failover.contacts._merge import Change, ImportPlan, check_importable, plan_import

__all__ = [
    "Change",
    "ContactFormat",
    "ContactRow",
    "ExportReport",
    "ImportPlan",
    "ImportedContact",
    "ParsedContacts",
    "check_importable",
    "contact_rows",
    "export_contacts",
    "parse_address_book",
    "parse_contacts_csv",
    "parse_vcards",
    "plan_import",
    "read_address_book",
]
