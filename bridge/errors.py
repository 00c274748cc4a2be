"""The bridge's exceptions.

```text
BridgeError
├── ConfigError                 a setting is wrong; start-up stops and names the key
├── InputError                  one object cannot be used; the batch goes on
│   ├── NotDicomError           the file is not DICOM (no preamble/DICM and no parsable header)
│   ├── TruncatedError          the file ends before an element it declares
│   ├── MissingAttributeError   a required attribute (a UID) is absent or empty
│   ├── InvalidUidError         a UID the bridge groups or identifies by is not a UID (PS3.5 9.1)
│   ├── CharacterSetError       text cannot be decoded with the declared Specific Character Set
│   ├── NotAnInstanceError      a DICOM file that is no SOP instance (DICOMDIR): skipped, not rejected
│   └── UnsupportedObjectError  a DICOM object the bridge cannot use
├── StoreError                  spool or state store failed; nothing is acknowledged
├── ServiceError                the service cannot start (port taken, data directory unusable)
└── DeliveryError
    ├── TransientDeliveryError  retried with capped backoff within a total budget
    └── PermanentDeliveryError  dead-lettered at once
```
"""

from __future__ import annotations


class BridgeError(Exception):
    """Base of every error the bridge raises on purpose."""


class ConfigError(BridgeError):
    """A setting is wrong: the message names the key."""


class InputError(BridgeError):
    """One input object cannot be used; the rest of the batch goes on.

    ``str()`` reads ``CT/IM0003.dcm: Study Instance UID is missing (StudyInstanceUID)``.
    """

    def __init__(self, source: str, reason: str, keyword: str | None = None) -> None:
        self.source = source
        self.reason = reason
        self.keyword = keyword
        super().__init__(str(self))

    def __str__(self) -> str:
        suffix = f" ({self.keyword})" if self.keyword else ""
        return f"{self.source}: {self.reason}{suffix}"


class NotDicomError(InputError):
    """The file is not a DICOM file."""


class TruncatedError(InputError):
    """The file ends before the data it declares."""


class MissingAttributeError(InputError):
    """A required attribute is absent or empty."""


class InvalidUidError(InputError):
    """A UID the bridge groups or identifies by is malformed (too long, or not digits and dots)."""


class CharacterSetError(InputError):
    """Text cannot be decoded with the object's Specific Character Set."""


class NotAnInstanceError(InputError):
    """A DICOM file that holds no SOP instance, such as a DICOMDIR: passed over, not an error."""


class UnsupportedObjectError(InputError):
    """A DICOM object the bridge does not handle."""


class StoreError(BridgeError):
    """The spool or the state store failed."""


class ServiceError(BridgeError):
    """The service cannot start or go on: the message says what and where."""


class DeliveryError(BridgeError):
    """Delivering output to a sink failed."""


class TransientDeliveryError(DeliveryError):
    """A delivery failure worth retrying."""


class PermanentDeliveryError(DeliveryError):
    """A delivery failure that retrying cannot fix."""
