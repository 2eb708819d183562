"""The Cognito URL and Region rules of issuers.py: the one Region pattern and what uses it."""

from __future__ import annotations

import pytest

from cognito_guard.errors import ConfigurationError
from cognito_guard.issuers import (
    check_base_url,
    is_aws_host,
    region_of_domain,
    region_of_issuer,
    user_pool_api_url,
)


@pytest.mark.parametrize("region", ["eu-west-1", "us-gov-west-1", "cn-north-1", "ap-southeast-12"])
def test_region_names(region: str) -> None:
    assert user_pool_api_url(region) == f"https://cognito-idp.{region}.amazonaws.com/"
    assert region_of_domain(f"https://app.auth.{region}.amazoncognito.com") == region
    assert region_of_issuer(f"https://cognito-idp.{region}.amazonaws.com/{region}_AbC1") == region


@pytest.mark.parametrize(
    "region", ["eu-west", "EU-WEST-1", "eu-west-1a", "eu-west-123", "e-west-1", "", "eu-west-1\n"]
)
def test_what_is_not_a_region_name(region: str) -> None:
    with pytest.raises(ConfigurationError, match="not an AWS Region"):
        user_pool_api_url(region)
    assert region_of_domain(f"https://app.auth.{region}.amazoncognito.com") is None


@pytest.mark.parametrize(
    "url",
    [
        "https://auth.example.com",  # a custom domain names no Region
        "https://app.auth.eu-west-1.amazoncognito.com.evil.example",
        "http://app.auth.eu-west-1.amazoncognito.com",
        "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC1",  # an issuer, not a domain
    ],
)
def test_only_an_amazon_cognito_domain_names_its_region(url: str) -> None:
    assert region_of_domain(url) is None


@pytest.mark.parametrize(
    "iss",
    [
        "https://issuer-cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC1",  # the updated form
        "https://cognito-idp.eu-west-1.amazonaws.com.evil/x_y",
        "https://cognito-idp.eu-west-1.amazonaws.com/",
        "https://evil.example.com/eu-west-1_AbC1",
    ],
)
def test_only_an_original_form_issuer_names_its_region(iss: str) -> None:
    assert region_of_issuer(iss) is None


def test_aws_hosts() -> None:
    assert is_aws_host("https://cognito-idp.eu-west-1.amazonaws.com/")
    assert is_aws_host("https://cognito-idp-fips.us-east-1.amazonaws.com/")
    assert is_aws_host("https://cognito-idp.cn-north-1.amazonaws.com.cn/")
    assert not is_aws_host("http://127.0.0.1:9229/")
    assert not is_aws_host("https://amazonaws.com.evil.example/")
    assert not is_aws_host(None)


def test_base_urls_are_normalised() -> None:
    assert check_base_url("auth.example.com", "domain", keep_path=False) == (
        "https://auth.example.com"
    )
    assert check_base_url("https://auth.example.com/", "domain", keep_path=False) == (
        "https://auth.example.com"
    )
    assert check_base_url("http://localhost:9229", "endpoint_url", keep_path=True) == (
        "http://localhost:9229/"
    )
    assert check_base_url("http://[::1]:9229/pool", "endpoint_url", keep_path=True) == (
        "http://[::1]:9229/pool"
    )


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://auth.example.com", "must use https"),
        ("https://auth.example.com/oauth2", "must not have a path"),
        ("https://auth.example.com?x=1", "plain https URL"),
        ("https://user:pw@auth.example.com", "plain https URL"),
        ("https://[bad", "not a valid URL"),
    ],
)
def test_base_urls_that_are_refused(url: str, why: str) -> None:
    with pytest.raises(ConfigurationError, match=why):
        check_base_url(url, "domain", keep_path=False)
