"""Rewrite every link to its pool's canonical issuer (the original form), as new links are made.

Both issuer forms of a pool (``https://cognito-idp...`` and ``https://issuer-cognito-idp...``)
name the same pool and the same users. A link made in the updated form is rewritten to the
original form.

Where one Cognito user (pool and ``sub``) already has two links, one per form (the second made
when that user first came with a token in the other form), nothing is merged: the **older** link
is kept, in the canonical form, and the newer link is deleted. The newer link's user row is left
exactly as it is (its data, groups and any password), only unlinked: Cognito can no longer sign
anyone into it. Each such row is logged as a warning (the user primary keys, the pool, ``sub``)
for an administrator to review, and deactivate, merge or delete. The older link is the account
an administrator has managed longest: a deactivation of it, for one, stands.

Reversing this migration changes nothing: the canonical form is a valid link for older code too.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import migrations

from cognito_guard.issuers import canonical_issuer

log = logging.getLogger("cognito_guard")


def canonicalise_issuers(apps: Any, schema_editor: Any) -> None:
    """Rewrite the ``CognitoIdentity`` rows of ``apps`` to canonical issuers; of two links of one
    Cognito user, keep the older and unlink the newer (see the module docstring)."""
    identity = apps.get_model("cognito_guard", "CognitoIdentity")
    rows = identity.objects.all()
    if schema_editor is not None:
        rows = rows.using(schema_editor.connection.alias)
    # Only a user with a link outside the canonical form needs a rewrite, or has a duplicate.
    users = {
        (canonical_issuer(issuer), sub)
        for issuer, sub in rows.values_list("issuer", "sub")
        if canonical_issuer(issuer) != issuer
    }
    for canonical, sub in sorted(users):
        links = sorted(
            (link for link in rows.filter(sub=sub) if canonical_issuer(link.issuer) == canonical),
            key=lambda link: (link.created_at, link.pk),
        )
        keep, *newer = links
        for link in newer:
            log.warning(
                "cognito_guard migration 0002: the Cognito user %s of %s had two links; the "
                "older, to user pk=%s, is kept; user pk=%s is unlinked and otherwise left as it "
                "is: review it (deactivate, merge or delete it)",
                sub,
                canonical,
                keep.user_id,
                link.user_id,
            )
            link.delete()
        if keep.issuer != canonical:
            keep.issuer = canonical
            keep.save(update_fields=["issuer"])


class Migration(migrations.Migration):
    dependencies = [("cognito_guard", "0001_initial")]  # noqa: RUF012 - as Django writes it

    operations = [  # noqa: RUF012 - as Django writes it
        migrations.RunPython(canonicalise_issuers, migrations.RunPython.noop, elidable=True),
    ]
