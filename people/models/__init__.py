from people.models.imports import ImportedRow, PeopleImport, RememberedMapping
from people.models.signup import SignupConfirmation, SignupForm, SignupSubmission

__all__ = [
    "ImportedRow",
    "PeopleImport",
    "RememberedMapping",
    "SignupConfirmation",
    "SignupForm",
    "SignupSubmission",
]
