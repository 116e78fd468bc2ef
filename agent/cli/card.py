"""`posagent card ...`: merchant set-up (card template, open-card form, activation URL) and the card
commands technicians need.

    posagent card upload-image logo.png --kind logo [--fit]
    posagent card create-template card-template.toml
    posagent card set-form TEMPLATE_ID --required mobile,name --optional gender,birthday
    posagent card activation-url TEMPLATE_ID [--callback URL] [--out-string S] [--png FILE]
    posagent card open --callback-url URL [--points 0 --level VIP1]
    posagent card query CARD_NO
    posagent card update CARD_NO --points 120 [--occur-time "2026-11-25 10:00:00"]

Exit codes: 0 ok, 1 Alipay said no, 2 bad arguments/config/input, 3 the set-up is wrong (key,
app id, permission, clock, gateway URL: running again cannot fix it), 4 unreachable or unknown
outcome (running the same command again is safe).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.alipay import AlipayClient, AlipayError, apis
from agent.alipay.envelope import china_timestamp
from agent.config import ConfigError
from agent.ecr.fields import TimeFormatError, china_timestamp_of
from agent.members.open_card import (
    CallbackError,
    CallbackParams,
    CardValues,
    check_auth_code,
    check_request_id,
    check_template_id,
    derive_out_serial_no,
    mask_mobile,
    mask_name,
    open_card,
    parse_callback_url,
)
from agent.setup import (
    ImageError,
    ImageKind,
    SpecError,
    StateError,
    TemplateState,
    check_image,
    fit,
    load_spec,
    load_state,
    new_request_id,
    save_state,
    sha256_hex,
    state_path_for,
)
from agent.setup.opened_cards import OpenedCard, find_opened, ledger_path, record_opened
from agent.setup.state import UploadedImage

from .common import (
    EXIT_BUSINESS,
    EXIT_OK,
    EXIT_USAGE,
    OutputPathError,
    add_gateway_options,
    agent_config,
    emit,
    fail,
    output_file,
    run_with_client,
)

_EXTENSIONS = {"png": ".png", "jpg": ".jpg", "gif": ".gif", "bmp": ".bmp"}


def register(subparsers: Any) -> None:
    card = subparsers.add_parser(
        "card", help="membership-card set-up (images, template, form, activation URL) and card look-ups",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    sub = card.add_subparsers(dest="card_command", metavar="ACTION", required=True)

    upload = sub.add_parser("upload-image", help="check a card image against Alipay's image rules and upload it")
    upload.add_argument("file", type=Path, metavar="FILE")
    upload.add_argument("--kind", required=True, choices=[k.value for k in ImageKind],
                        help="background: 1020x643, <= 2 MB; logo and other: 500x500, <= 1 MB")  # fmt: skip
    upload.add_argument("--fit", action="store_true", help="upload a conforming copy (crop, resize, re-encode)")
    upload.add_argument("--save-fitted", type=_output_file, metavar="FILE", help="with --fit: also keep the copy here")
    upload.add_argument("--name", help="image_name at Alipay (default: the file name)")
    add_gateway_options(upload)
    upload.set_defaults(handler=cmd_upload_image)

    create = sub.add_parser("create-template", help="create the card template described by a TOML spec, once")
    create.add_argument("spec", type=Path, metavar="SPEC.toml")
    create.add_argument("--fit", action="store_true", help="fit non-conforming images instead of refusing them")
    create.add_argument(
        "--new", action="store_true", help="create another template even if this spec created one (new request_id)"
    )
    add_gateway_options(create)
    create.set_defaults(handler=cmd_create_template)

    form = sub.add_parser("set-form", help="choose the fields of the open-card form (once per template)")
    form.add_argument("template_id", metavar="TEMPLATE_ID")
    form.add_argument("--required", required=True, type=_names, metavar="F1,F2",
                      help="mobile, name, gender, birthday, email, idcard, address, city, ...")  # fmt: skip
    form.add_argument("--optional", type=_names, default=[], metavar="F1,F2")
    add_gateway_options(form)
    form.set_defaults(handler=cmd_set_form)

    url = sub.add_parser("activation-url", help="get the URL customers scan to open a card, as a QR code")
    url.add_argument("template_id", metavar="TEMPLATE_ID")
    url.add_argument("--callback", metavar="URL", help="where Alipay sends the customer after the form")
    url.add_argument("--out-string", metavar="S", help="a value echoed back on the callback (<= 256 characters)")
    url.add_argument("--png", type=_output_file, metavar="FILE", help="also write the QR code as a PNG")
    url.add_argument("--no-qr", action="store_true", help="print the URL only")
    add_gateway_options(url)
    url.set_defaults(handler=cmd_activation_url)

    opener = sub.add_parser("open", help="open a card for a customer who filled the form (oauth -> form -> open)")
    source = opener.add_argument_group("the customer's form submission (the callback URL, or its three values)")
    source.add_argument("--callback-url", metavar="URL", help="the URL Alipay redirected the customer to")
    source.add_argument("--auth-code", metavar="CODE")
    source.add_argument("--template-id", metavar="ID")
    source.add_argument("--request-id", metavar="ID")
    values = opener.add_argument_group("the new card's values")
    values.add_argument("--level", help="a level of the template (levels[].level)")
    values.add_argument("--points", help="starting points")
    values.add_argument("--balance", help="starting balance in yuan, e.g. 0.00")
    values.add_argument("--external-card-no", help="the physical card's number, when digitising one")
    opener.add_argument("--out-serial-no", help="idempotency key (default: derived from template and request id)")
    opener.add_argument("--channel", help="open_card_channel, e.g. the shop id")
    add_gateway_options(opener)
    opener.set_defaults(handler=cmd_open)

    query = sub.add_parser("query", help="show a card's level, points and balance")
    query.add_argument("card_no", metavar="CARD_NO")
    query.add_argument("--type", default="BIZ_CARD", choices=["BIZ_CARD", "D_QR_CODE", "D_BAR_CODE"],
                       help="BIZ_CARD (default) or a scanned dynamic code")  # fmt: skip
    add_gateway_options(query)
    query.set_defaults(handler=cmd_query)

    update = sub.add_parser("update", help="set a card's points, balance or level (ABSOLUTE new values)")
    update.add_argument("card_no", metavar="CARD_NO")
    update.add_argument("--points", help="the new points total")
    update.add_argument("--balance", help="the new balance in yuan")
    update.add_argument("--level", help="the new level")
    update.add_argument("--occur-time", metavar="'yyyy-MM-dd HH:mm:ss'",
                        help="business time of this state: China time, or ISO 8601 with its offset "
                        "(2026-11-25T03:00:00+01:00), converted (default: now)")  # fmt: skip
    update.add_argument("--changed-point", metavar="D", help="points change to tell the customer, e.g. -20")
    update.add_argument("--reason", metavar="TEXT", help="why, shown in the customer's notification")
    add_gateway_options(update)
    update.set_defaults(handler=cmd_update)


def _output_file(text: str) -> Path:
    """An argparse type: the file's folder must exist, checked before any call to Alipay."""
    try:
        return output_file(text)
    except OutputPathError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    for name in names:
        try:
            apis.form_field_code(name)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return names


# -- upload-image --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ReadyImage:
    content: bytes
    format: str
    width: int
    height: int
    fitted: bool


def _prepare_image(data: bytes, kind: ImageKind, *, allow_fit: bool) -> _ReadyImage | list[str]:
    """The bytes to upload, or every rule the file breaks."""
    check = check_image(data, kind)
    fitted = False
    if not check.ok:
        if not allow_fit or check.format is None:
            return list(check.violations)
        try:
            data = fit(data, kind)
        except ImageError as exc:
            return [str(exc)]
        check, fitted = check_image(data, kind), True
        if not check.ok:  # fit() produced something Alipay would refuse: a bug, say so plainly
            return [f"the fitted copy still breaks the rules: {v}" for v in check.violations]
    assert check.format is not None and check.width is not None and check.height is not None
    return _ReadyImage(data, check.format, check.width, check.height, fitted)


class _InputError(Exception):
    """A file named on the command line or in the spec cannot be read."""


def _read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _upload_request(ready: _ReadyImage, path: Path, name: str | None) -> apis.ImageUpload:
    filename = path.stem + _EXTENSIONS[ready.format]  # the name must agree with the (re-encoded) content
    return apis.ImageUpload(image_type=ready.format, image_name=(name or path.name)[:128],
                            image_content=ready.content, filename=filename)  # fmt: skip


def cmd_upload_image(args: argparse.Namespace) -> int:
    kind = ImageKind(args.kind)
    try:
        data = _read_file(args.file)
    except _InputError as exc:
        return fail(args, EXIT_USAGE, str(exc))
    ready = _prepare_image(data, kind, allow_fit=args.fit)
    if isinstance(ready, list):
        hint = "" if args.fit else " (add --fit to upload a conforming copy)"
        message = f"{args.file} cannot be used as a {kind.value} image{hint}:\n" + "\n".join(f"  - {v}" for v in ready)
        return fail(args, EXIT_USAGE, message, {"problems": ready, "rule": kind.rule.describe()})
    if ready.fitted and args.save_fitted:
        try:
            args.save_fitted.write_bytes(ready.content)
        except OSError as exc:
            return fail(args, EXIT_USAGE, f"{args.save_fitted}: cannot be written ({exc.strerror or exc})")

    async def body(client: AlipayClient) -> int:
        uploaded = await client.execute(_upload_request(ready, args.file, args.name))
        emit(
            args,
            {"ok": True, "image_id": uploaded.image_id, "image_url": uploaded.image_url, "file": str(args.file),
             "kind": kind.value, "format": ready.format, "width": ready.width, "height": ready.height,
             "size_bytes": len(ready.content), "fitted": ready.fitted},
            f"image_id: {uploaded.image_id}\n"
            f"  {args.file} as {kind.value}: {ready.width}x{ready.height} {ready.format}, "
            f"{len(ready.content)} bytes{' (fitted copy)' if ready.fitted else ''}",
        )  # fmt: skip
        return EXIT_OK

    return run_with_client(args, body)


# -- create-template -----------------------------------------------------------------------------


def cmd_create_template(args: argparse.Namespace) -> int:
    spec_path: Path = args.spec
    try:
        spec = load_spec(spec_path)
        spec_sha = sha256_hex(spec_path.read_bytes())
        state_path = state_path_for(spec_path)
        state = load_state(state_path)
    except SpecError as exc:
        return fail(args, EXIT_USAGE, str(exc), {"problems": [str(p) for p in exc.problems]})
    except (StateError, OSError) as exc:
        return fail(args, EXIT_USAGE, str(exc))

    if state is not None and state.template_id and not args.new:
        changed = state.spec_sha256 != spec_sha
        note = ("\n  note: the spec changed since; the template was NOT changed (use --new to create another)"
                if changed else "")  # fmt: skip
        emit(args, {"ok": True, "template_id": state.template_id, "created": False, "spec_changed": changed,
                    "state_file": str(state_path)},
             f"template_id: {state.template_id} (created earlier, recorded in {state_path}){note}")  # fmt: skip
        return EXIT_OK

    # Every image is checked before anything is sent: no half set-up because of the last file.
    uploads: dict[Path, tuple[str, _ReadyImage | None]] = {}  # path -> (sha256, image to upload or None)
    problems: list[str] = []
    known = state.images if state is not None else {}
    for path, kind in spec.image_files().items():
        try:
            data = _read_file(path)
        except _InputError as exc:
            problems.append(str(exc))
            continue
        digest = sha256_hex(data)
        if digest in known:
            uploads[path] = (digest, None)
            continue
        ready = _prepare_image(data, kind, allow_fit=args.fit)
        if isinstance(ready, list):
            problems.extend(f"{path} ({kind.value}): {v}" for v in ready)
        else:
            uploads[path] = (digest, ready)
    if problems:
        hint = "" if args.fit else " (add --fit to use conforming copies)"
        message = f"{spec_path}: images cannot be used{hint}:\n" + "\n".join(f"  - {p}" for p in problems)
        return fail(args, EXIT_USAGE, message, {"problems": problems})

    if state is None or args.new:
        # Written BEFORE the first call: a retry after an unknown outcome must reuse this request_id.
        state = TemplateState(new_request_id(), spec_sha256=spec_sha, images=dict(known))
    elif state.spec_sha256 != spec_sha:
        print("note: the spec changed since the last attempt; if that attempt reached Alipay, the template "
              "it created is the one returned", file=sys.stderr)  # fmt: skip
    try:
        save_state(state_path, state)
    except OSError as exc:
        return fail(args, EXIT_USAGE, f"{state_path}: cannot be written ({exc.strerror or exc})")
    current = state

    async def body(client: AlipayClient) -> int:
        our_app = client.protocol.credentials.app_id
        given = spec.open_card.source_app_id
        if given and given != our_app:  # before anything is sent
            return fail(args, EXIT_USAGE, f"{spec_path}: open_card.source_app_id is {given}, but this agent is app "
                                          f"{our_app}: leave the line out to use this app's id, or use the config "
                                          f"of app {given}")  # fmt: skip
        image_ids: dict[Path, str] = {}
        uploaded_now = 0
        for path, (digest, ready) in uploads.items():
            if ready is not None:
                uploaded = await client.execute(_upload_request(ready, path, None))
                current.images[digest] = UploadedImage(uploaded.image_id, path.name)
                save_state(state_path, current)
                uploaded_now += 1
            image_ids[path] = current.images[digest].image_id
        created = await client.execute(spec.to_request(current.request_id, image_ids, app_id=our_app))
        current.template_id = created.template_id
        save_state(state_path, current)
        emit(
            args,
            {"ok": True, "template_id": created.template_id, "created": True, "request_id": current.request_id,
             "images_uploaded": uploaded_now, "state_file": str(state_path)},
            f"template_id: {created.template_id}\n  request_id {current.request_id}, {uploaded_now} image(s) "
            f"uploaded, recorded in {state_path}\n"
            f"  next: posagent card set-form {created.template_id} --required mobile,name",
        )  # fmt: skip
        return EXIT_OK

    return run_with_client(args, body)


# -- set-form, activation-url --------------------------------------------------------------------


def cmd_set_form(args: argparse.Namespace) -> int:
    try:
        request = apis.FormTemplateSet(template_id=args.template_id, required=args.required, optional=args.optional)
    except ValueError as exc:
        return fail(args, EXIT_USAGE, str(exc))
    required = [apis.form_field_code(n) for n in args.required]
    optional = [apis.form_field_code(n) for n in args.optional]

    async def body(client: AlipayClient) -> int:
        await client.execute(request)
        emit(args, {"ok": True, "template_id": args.template_id, "required": required, "optional": optional},
             f"form set for template {args.template_id}\n  required: {', '.join(required)}\n"
             f"  optional: {', '.join(optional) or '-'}")  # fmt: skip
        return EXIT_OK

    return run_with_client(args, body)


def cmd_activation_url(args: argparse.Namespace) -> int:
    if args.out_string is not None and not 1 <= len(args.out_string) <= 256:
        return fail(args, EXIT_USAGE, "--out-string must be 1-256 characters")
    if args.callback and ("?" in args.callback or not args.callback.startswith(("https://", "http://"))):
        return fail(args, EXIT_USAGE, "--callback must be an http(s) URL without query parameters")
    request = apis.ActivateUrlApply(template_id=args.template_id, callback=args.callback, out_string=args.out_string)

    async def body(client: AlipayClient) -> int:
        result = await client.execute(request)
        import qrcode  # noqa: PLC0415 - loads Pillow: `posagent` imports every command's module on each start

        code = qrcode.QRCode(border=2, error_correction=qrcode.constants.ERROR_CORRECT_M)
        code.add_data(result.url)
        code.make(fit=True)
        if args.png:
            try:
                code.make_image().save(str(args.png))
            except OSError as exc:
                print(f"URL: {result.url}")
                return fail(args, EXIT_USAGE, f"{args.png}: cannot be written ({exc.strerror or exc})")
        if args.json:
            emit(args, {"ok": True, "template_id": args.template_id, "url": result.url,
                        "png": str(args.png) if args.png else None}, "")  # fmt: skip
            return EXIT_OK
        print(result.url)
        if not args.no_qr:
            code.print_ascii(out=sys.stdout, invert=True)
        if args.png:
            print(f"QR code written to {args.png}")
        return EXIT_OK

    return run_with_client(args, body)


# -- open, query, update -------------------------------------------------------------------------


def _callback_params(args: argparse.Namespace) -> CallbackParams:
    singles = (args.auth_code, args.template_id, args.request_id)
    if args.callback_url:
        if any(singles):
            raise CallbackError("give --callback-url OR --auth-code/--template-id/--request-id, not both")
        return parse_callback_url(args.callback_url)
    if not all(singles):
        raise CallbackError("give --callback-url URL, or all of --auth-code, --template-id and --request-id")
    return CallbackParams(check_auth_code(args.auth_code), check_template_id(args.template_id),
                          check_request_id(args.request_id))  # fmt: skip


def cmd_open(args: argparse.Namespace) -> int:
    try:
        params = _callback_params(args)
        values = CardValues(level=args.level, point=args.points, balance=args.balance,
                            external_card_no=args.external_card_no)  # fmt: skip
    except ValueError as exc:  # CallbackError too
        return fail(args, EXIT_USAGE, str(exc))
    serial = args.out_serial_no or derive_out_serial_no(params.template_id, params.request_id)
    ledger = _opened_cards_ledger(args)

    async def body(client: AlipayClient) -> int:
        our_app = client.protocol.credentials.app_id
        if params.app_id is not None and params.app_id != our_app:
            return fail(args, EXIT_USAGE, f"app_id: the callback is for app {params.app_id}, but this agent is "
                                          f"app {our_app} (the QR belongs to another app or environment)")  # fmt: skip
        try:
            opened = await open_card(
                client, auth_code=params.auth_code, template_id=params.template_id, request_id=params.request_id,
                card_values=values, out_serial_no=serial, open_card_channel=args.channel,
            )  # fmt: skip
        except AlipayError as exc:
            if exc.sub_code == "isv.code-invalid":  # the auth_code was exchanged before: by an earlier open?
                return _already_used(args, exc, serial, ledger)
            raise
        info = opened.card.card_info
        warning = _record_opened(ledger, OpenedCard(serial, params.template_id, opened.card_no,
                                                    china_timestamp(datetime.now(UTC))))  # fmt: skip
        member = {"name": mask_name(opened.member.name) if opened.member.name else None,
                  "mobile": mask_mobile(opened.member.cell) if opened.member.cell else None}  # fmt: skip
        emit(
            args,
            {"ok": True, "card_no": opened.card_no, "template_id": params.template_id,
             "out_serial_no": opened.out_serial_no, "out_string": params.out_string, "card_info": info.to_dict(),
             "member": member},
            f"card opened: {opened.card_no}\n  member: {member['name'] or '-'}, {member['mobile'] or '-'}\n"
            f"  level {info.level or args.level or '-'}, points {info.point or args.points or '-'}, "
            f"balance {info.balance or args.balance or '-'}, valid until {info.valid_date or '-'}\n"
            f"  out_serial_no {opened.out_serial_no}",
        )  # fmt: skip
        if warning:
            print(f"warning: {warning}", file=sys.stderr)
        return EXIT_OK

    return run_with_client(args, body)


def _opened_cards_ledger(args: argparse.Namespace) -> Path | None:
    """Where this PC records the cards it opened: the config's state folder (None without a config)."""
    try:
        return ledger_path(agent_config(args).paths.state_dir)
    except ConfigError:
        return None


def _record_opened(ledger: Path | None, card: OpenedCard) -> str | None:
    if ledger is None:
        return None
    try:
        record_opened(ledger, card)
    except OSError as exc:
        return (f"the card is open, but {ledger} cannot be written ({exc.strerror or exc}): running this again "
                "could not name the card")  # fmt: skip
    return None


def _already_used(args: argparse.Namespace, error: AlipayError, serial: str, ledger: Path | None) -> int:
    """A callback whose auth_code was already exchanged: say what is true, not "scan again" by default."""
    known = find_opened(ledger, serial) if ledger is not None else None
    if known is not None:
        emit(args, {"ok": True, "already_opened": True, "card_no": known.card_no, "template_id": known.template_id,
                    "out_serial_no": serial, "opened_at": known.opened_at},
             f"this callback was already used: card {known.card_no} was opened with it"
             f"{f' on {known.opened_at} (China time)' if known.opened_at else ''}; nothing to do\n"
             f"  out_serial_no {serial}")  # fmt: skip
        return EXIT_OK
    message = (f"this callback was already used (its auth_code works once), and this PC has no record of the card "
               f"it opened. If an earlier `card open` with it succeeded, the card exists (out_serial_no {serial}) "
               "and no second card can be opened: the customer sees it in Alipay. Only if no card was opened, ask "
               "the customer to scan the activation QR again")  # fmt: skip
    return fail(args, EXIT_BUSINESS, message, {"kind": error.kind, "sub_code": error.sub_code,
                                                "out_serial_no": serial})  # fmt: skip


def _card_lines(info: apis.CardInfo) -> str:
    rows = [("level", info.level), ("points", info.point), ("balance", info.balance),
            ("external card no", info.external_card_no), ("opened", info.open_date),
            ("valid until", info.valid_date)]  # fmt: skip
    return "\n".join(f"  {label}: {value}" for label, value in rows if value)


def cmd_query(args: argparse.Namespace) -> int:
    async def body(client: AlipayClient) -> int:
        card = await client.execute(apis.CardQuery(target_card_no=args.card_no, target_card_no_type=args.type))
        info = card.card_info
        card_no = info.biz_card_no or args.card_no
        emit(args, {"ok": True, "card_no": card_no, "card_info": info.to_dict(), "schema_url": card.schema_url},
             f"card {card_no}\n{_card_lines(info)}")  # fmt: skip
        return EXIT_OK

    return run_with_client(args, body)


def cmd_update(args: argparse.Namespace) -> int:
    try:
        request = _update_request(args)
    except ValueError as exc:
        return fail(args, EXIT_USAGE, str(exc))

    async def body(client: AlipayClient) -> int:
        result = await client.execute(request)
        info = request.card_info
        emit(args, {"ok": True, "card_no": args.card_no, "occur_time": request.occur_time,
                    "card_info": info.to_dict(), "result_code": result.result_code},
             f"card {args.card_no} updated (as of {request.occur_time} China time)\n{_card_lines(info)}")  # fmt: skip
        return EXIT_OK

    return run_with_client(args, body)


def _update_request(args: argparse.Namespace) -> apis.CardUpdate:
    if args.points is None and args.balance is None and args.level is None:
        raise ValueError("give at least one of --points, --balance, --level (the new ABSOLUTE values)")
    try:  # the ECR protocol's rule: China time as Alipay takes it, or ISO 8601 with an offset, converted
        occur_time = china_timestamp_of(args.occur_time or china_timestamp(datetime.now(UTC)))
    except TimeFormatError as exc:
        raise ValueError(f"--occur-time {exc}") from None
    if args.changed_point is not None and args.reason is None:
        raise ValueError("--changed-point needs --reason (the customer is told why)")
    if args.changed_point is not None:
        try:
            CardValues(point=args.changed_point)  # same number format as points
        except ValueError:
            raise ValueError("--changed-point: expected a number with at most 2 decimals, e.g. -20") from None
    values = CardValues(level=args.level, point=args.points, balance=args.balance)
    notify: Sequence[str] = ()
    if args.reason:
        notify = [t for t, given in (("POINT_UPDATE", args.points), ("BALANCE_UPDATE", args.balance),
                                     ("LEVEL_UPDATE", args.level)) if given is not None]  # fmt: skip
    return apis.CardUpdate(
        target_card_no=args.card_no, occur_time=occur_time, card_info=values.to_card_info(),
        change_reason=args.reason, changed_point=args.changed_point, notify_types=notify,
    )  # fmt: skip
