from people.models.imports import ImportedBatch, PeopleImport, RememberedMapping
from people.models.signup import SignupConfirmation, SignupForm, SignupSubmission

__all__ = [
    "ImportedBatch",
    "PeopleImport",
    "RememberedMapping",
    "SignupConfirmation",
    "SignupForm",
    "SignupSubmission",
]
