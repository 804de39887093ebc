"""Error pages that belong to no publication speak the browser's shipped language."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from newsletter.web.handlers import install


@pytest.fixture
def client() -> TestClient:
    """An app with the error handlers and one route that fails."""
    app = FastAPI()
    install(app)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("not for readers")

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize(
    ("accept", "lang", "title", "message"),
    [
        ("", "en", "Page not found", "There is nothing at this address."),
        ("de-DE,de;q=0.9,en;q=0.8", "de", "Seite nicht gefunden", "Unter dieser Adresse"),
        ("it, fr;q=0.7", "fr", "Page introuvable", "Il n’y a rien à cette adresse."),
        ("ar-EG", "ar", "الصفحة غير موجودة", "لا يوجد شيء على هذا العنوان."),
        (
            "ko-KR;q=0.9, es;q=0.4",
            "ko",
            "페이지를 찾을 수 없습니다",
            "이 주소에는 아무것도 없습니다.",
        ),
        ("it, *;q=0.1", "en", "Page not found", "There is nothing at this address."),
    ],
)
def test_not_found_page_follows_accept_language(
    client: TestClient, accept: str, lang: str, title: str, message: str
) -> None:
    """The 404 page's title, message and <html lang> follow Accept-Language (English
    when no shipped language is wanted)."""
    headers = {"accept": "text/html"} | ({"accept-language": accept} if accept else {})
    page = client.get("/nowhere", headers=headers).text
    assert f'<html lang="{lang}"' in page
    assert title in page
    assert message in page


def test_server_error_page_is_translated_and_json_stays_english(client: TestClient) -> None:
    """A 500 page reads in German for a German browser; a program gets English JSON."""
    page = client.get("/boom", headers={"accept": "text/html", "accept-language": "de"})
    assert page.status_code == 500
    assert "Bei uns ist etwas schiefgelaufen." in page.text
    answer = client.get("/boom", headers={"accept": "application/json", "accept-language": "de"})
    assert answer.json()["error"].startswith("Something went wrong on our side.")
