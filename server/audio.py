"""``GET /audio/…``: the chime and each call's spoken phrase as WAV files."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from server.chime import chime_wav
from server.phrasing import PhraseError
from server.queue.errors import Refusal
from server.runtime import Runtime
from server.speech import SpeechError

CACHE = {"Cache-Control": "public, max-age=86400"}


async def chime(request: Request) -> Response:
    return Response(chime_wav(), media_type="audio/wav", headers=CACHE)


async def phrase(request: Request) -> Response:
    """The phrase of one call, synthesised on first request and cached by (voice, text)."""
    runtime: Runtime = request.app.state.runtime
    params = request.path_params
    hall = runtime.hall(params["hall"]).hall
    try:
        path = await runtime.speech.announcement_wav(hall, params["lang"], params["number"], params["window"])
    except PhraseError as exc:
        raise Refusal("unknown_phrase", str(exc)) from exc
    except SpeechError as exc:
        raise Refusal("speech_unavailable", f"speech synthesis failed: {exc}") from exc
    return FileResponse(path, media_type="audio/wav", headers=CACHE)


routes = [
    Route("/audio/chime.wav", chime),
    Route("/audio/{hall}/{lang}/{number}/{window}.wav", phrase),
]
