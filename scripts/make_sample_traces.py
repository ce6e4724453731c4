#!/usr/bin/env python3
"""Generate rollctl's bundled sample data: a canary week, 48 h of shadow pairs, and eval results.

Why this exists: every rollctl command is demoed and tested against these files, so the situations
planted in them (a JSON regression in ``order_status``, a swapped eval case, an uncovered intent ...)
must be exact, documented in ``sample_traces/README.md``, and reproducible byte for byte.

Standard library only, fixed seeds, no wall clock, gzip with ``mtime=0``, fixed key order and
fixed float rounding, so two runs give identical bytes::

    python scripts/make_sample_traces.py [--out DIR]

It prints the realized effect sizes that the README quotes.
"""

from __future__ import annotations

import argparse
import bisect
import gzip
import hashlib
import json
import math
import random
import statistics
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from statistics import fmean
from typing import Any

Row = dict[str, Any]

# --------------------------------------------------------------------------------------------------
# Fixed design constants (the README quotes these; change them only together with the README).
# --------------------------------------------------------------------------------------------------

# One seed per file, so editing one file's generator never reshuffles another. Each was picked by scanning
# 40-120 seeds for a draw whose realized numbers sit close to the design values (in a random
# draw, noise alone can make an unplanted metric differ between arms, which would confuse a demo).
# Any edit that changes the number or order of random draws (even the length of a list passed to
# rng.choice) re-rolls the data: rerun, re-check the printed numbers, and update the README.
SEEDS = {"canary": 43, "shadow": 108, "evals": 1}

SALT = "support_bot_model_bump_2026_11"
PERCENT = 5
CONTROL_MODEL = "claude-sonnet-4-5-20250929"
TREATMENT_MODEL = "claude-sonnet-4-6-20260301"
PROMPT_VERSION = "support-v12"
MODEL_BY_VARIANT = {"control": CONTROL_MODEL, "treatment": TREATMENT_MODEL}

# USD per million tokens: (uncached input, output, cache read). The new model is 10% dearer per token.
PRICES: dict[str, tuple[float, float, float]] = {
    CONTROL_MODEL: (3.00, 15.00, 0.30),
    TREATMENT_MODEL: (3.30, 16.50, 0.33),
}

CANARY_START = datetime(2026, 11, 16, tzinfo=UTC)  # Monday
CANARY_DAYS = 7
CANARY_USERS = 20_000
SHADOW_START = datetime(2026, 11, 12, tzinfo=UTC)  # Thursday: no weekend in the window
SHADOW_DAYS = 2
SHADOW_USERS = 1_500

INTENTS = ("billing", "order_status", "refund", "tech_support", "account", "warranty_claim")
CANARY_INTENT_WEIGHTS = (0.19, 0.18, 0.13, 0.23, 0.19, 0.08)
SHADOW_INTENT_WEIGHTS = (0.21, 0.15, 0.14, 0.23, 0.19, 0.08)
LANGUAGES = ("en", "de", "es", "ja")
LANGUAGE_WEIGHTS = (0.90, 0.04, 0.035, 0.025)
TIERS = ("free", "pro", "enterprise")
TIER_WEIGHTS = (0.62, 0.30, 0.08)

RATE_LIMIT_RATE = 0.005  # 429s, both arms alike
TIMEOUT_RATE = 0.001
CACHE_HIT_RATE = 0.35
SYSTEM_PROMPT_TOKENS = 1874  # system prompt + tool schemas of support-v12
PASSAGE_TOKENS = 384  # fixed-size help-center chunks retrieved into the prompt
MAX_PASSAGES = 5
HISTORY_TOKENS = 180  # per earlier turn of the session
JSON_BREAK_SHARE = 0.35  # planted: share of the candidate's order_status calls with broken JSON
CONTROL_JSON_BREAK_RATE = 0.003  # the old model truncates an order_status JSON now and then
JUDGE_SAMPLE_RATE = 0.3  # the online rubric judge scores a sample of answered calls (it costs tokens)
FINAL_TEXT_RATE = 0.365  # of free-text answers; about 30% of all rows
REFUSAL = "I'm sorry, but I can't help with that."

# User-level latent effects (logit scale). They make requests of one user correlated (ICC ~0.1).
SATISFACTION_SD = 0.9
ENGAGEMENT_SD = 0.8
THUMBS_DOWN_BASE = 0.08
THUMBS_UP_BASE = 0.12
BROKEN_THUMBS_DOWN = 0.62  # a broken order-status answer is thumbed down far more often
BREAK_STYLES = ("prose", "truncated", "preamble")  # how a model breaks a JSON answer
BREAK_STYLE_WEIGHTS = (0.5, 0.3, 0.2)

# Shadow judge model: verdict = sign(quality gap + length bias + first-position bias + noise).
JUDGE_NAME = "judge-gpt"
JUDGE_GAP_SD = 2.0  # spread of the true quality gap between two ordinary answers
JUDGE_POSITION_BIAS = 0.15
JUDGE_LENGTH_COEF = 1.2
JUDGE_TIE_BAND = 0.45
JUDGE_NOISE_SD = 0.08
JUDGE_ERROR_RATE = 0.01
SHADOW_MISSING_CANDIDATES = 10
SHADOW_CANDIDATE_TIMEOUTS = 5
SHADOW_REFUSAL_RATE = {"control": 0.005, "treatment": 0.03}  # within intent == account
SHADOW_CANDIDATE_TAIL = 0.04  # share of candidate calls queued on a busy replica (baseline: 0.03)

EVAL_PASS_THRESHOLD = 0.7
EVAL_REPEATS = 3
EVAL_CASES_PER_INTENT = {"billing": 25, "order_status": 15, "refund": 20, "tech_support": 32, "account": 28}

# Traffic shape: UTC hour-of-day weights (US + EU support hours) and weekday weights (weekend ~40% lower).
HOUR_WEIGHTS = (
    0.35, 0.28, 0.22, 0.18, 0.17, 0.20, 0.30, 0.45, 0.62, 0.78, 0.90, 0.97,
    1.00, 1.00, 0.98, 0.97, 0.95, 0.90, 0.82, 0.72, 0.62, 0.55, 0.48, 0.40,
)
WEEKDAY_WEIGHTS = (1.05, 1.0, 1.0, 1.0, 0.95, 0.6, 0.6)

# --------------------------------------------------------------------------------------------------
# Text corpus. Topics pair a customer question with answers that fit it, per language and intent.
# ``a`` holds one phrasing per model (index 0: control model, 1: treatment model): a pinned model at low
# temperature words the same answer the same way, and the two models word it differently.
# ``order_status`` has no ``a``: the bot answers it with a JSON object.
# --------------------------------------------------------------------------------------------------

TOPICS: dict[str, dict[str, list[dict[str, list[str]]]]] = {
    "en": {
        "billing": [
            {"q": ["Why was I charged {amount} twice this month? I only have one {plan} subscription.",
                   "I see two charges of {amount} on my card ending in {last4}. Can you check?"],
             "a": ["The second {amount} charge is a pending authorization from a failed payment retry. It was never captured and will drop off within {days} business days.",
                   "I checked your account: only one {amount} payment went through. The duplicate is a temporary hold that your bank releases within {days} business days."],
             "more": ["Your next renewal is on {date}, and you won't be charged before then."]},
            {"q": ["Can I get an invoice for {amount} with our company VAT number on it?"],
             "a": ["Sure. I've added the VAT number to your billing profile and regenerated the invoice. You can download it under Settings > Billing > Invoices.",
                   "Done: the invoice for {amount} now shows your company name and VAT number. You can download it under Settings > Billing > Invoices."],
             "more": ["Future invoices will include the VAT number automatically."]},
            {"q": ["How do I switch from monthly to annual billing on the {plan} plan?"],
             "a": ["Go to Settings > Billing > Plan and choose Annual. The unused part of this month is credited pro rata to your first annual invoice.",
                   "You can switch under Settings > Billing > Plan. Annual billing on {plan} saves about 17%, and we credit the rest of this month pro rata."],
             "more": ["The change takes effect right away and you'll get a confirmation email."]},
        ],
        "order_status": [
            {"q": ["Where is my order {order_id}? It was supposed to arrive by now."]},
            {"q": ["Can you check the status of order {order_id}? I ordered the {product} last week."]},
            {"q": ["Has my {product} shipped yet? Order number {order_id}."]},
        ],
        "refund": [
            {"q": ["I returned the {product} on {past_date} but still haven't received my refund of {amount}."],
             "a": ["Your return was received on {past_date} and the refund of {amount} was issued today. It usually shows up on your statement within {days} business days.",
                   "I can see the returned {product} arrived at our warehouse. I've issued the {amount} refund to your original payment method; allow {days} business days."],
             "more": ["You'll get a confirmation email with the refund reference {ticket}."]},
            {"q": ["I want to cancel order {order_id} and get my money back.",
                   "Please cancel {order_id}, I ordered the wrong {product}. Refund to my card please."],
             "a": ["Order {order_id} hadn't shipped yet, so I've cancelled it. The full amount of {amount} will be back on your card within {days} business days.",
                   "I've cancelled order {order_id} before it shipped. The {amount} refund goes back to your card ending in {last4} within {days} business days."],
             "more": ["No need to do anything else; the cancellation confirmation is on its way to your inbox."]},
            {"q": ["The {product} arrived damaged. Can I get a refund instead of a replacement?"],
             "a": ["I'm sorry the {product} arrived damaged. I've issued a full refund of {amount} to your original payment method; you don't need to send it back.",
                   "Sorry about that! A refund of {amount} is on its way to your original payment method, and there's no need to return the damaged {product}."],
             "more": ["If you'd like to reorder later, use code SORRY10 for 10% off."]},
        ],
        "tech_support": [
            {"q": ["The {product} app keeps logging me out every few minutes on my {device}."],
             "a": ["This is usually caused by an expired session token. Please update the app to version {version} and sign in again; that clears the old token.",
                   "Please sign out, update the app to version {version} from the app store, and sign back in. That fixes the repeated logouts on the {device}."],
             "more": ["If it keeps happening, go to Settings > Privacy and allow background refresh for the app."]},
            {"q": ["My {product} won't connect to Wi-Fi. It shows error {error_code}.",
                   "Setup of the {product} fails at the Wi-Fi step with {error_code}, tried three times already."],
             "a": ["Error {error_code} means the device can't reach the 2.4 GHz network. Hold the reset button for 10 seconds, then pair it again on the 2.4 GHz band.",
                   "{error_code} is a network handshake error. Restart your router, keep the {product} within 5 meters of it during setup, and choose the 2.4 GHz network."],
             "more": ["Most routers show both bands under separate names; pick the one without '5G' in it."]},
            {"q": ["How do I export my order history to CSV? The export button is greyed out."],
             "a": ["Exports are available to account owners and admins. Ask your workspace owner to grant you the Admin role, then Export under Reports is enabled.",
                   "The export button is disabled for the Member role. Once an admin upgrades your role to Admin, go to Reports > Export and choose CSV."],
             "more": ["Large exports are emailed to you as a download link within a few minutes."]},
        ],
        "account": [
            {"q": ["I can't log in. The password reset email never arrives."],
             "a": ["I've re-sent the reset link to {email}. It can take a few minutes; please also check your spam folder. The link is valid for 30 minutes.",
                   "A new password reset email is on its way to {email}. If it isn't in your inbox within 10 minutes, check the spam or promotions folder."],
             "more": ["For security, the previous reset links no longer work."]},
            {"q": ["How do I change the email address on my account?"],
             "a": ["Go to Settings > Profile > Email, enter the new address and confirm the link we send to it. Your login changes once it's confirmed.",
                   "You can change it under Settings > Profile > Email. We'll send a confirmation link to the new address; the change applies after you click it."],
             "more": ["Your order history and saved addresses stay the same."]},
            {"q": ["Please delete my account and all my personal data."],
             "a": ["I've started the deletion request {ticket}. Your account and personal data will be permanently removed within 30 days; you'll get an email.",
                   "Your deletion request {ticket} is logged. We'll permanently erase your account and personal data within 30 days and confirm it by email."],
             "more": ["If you change your mind, reply within 7 days and we can cancel the request."]},
        ],
        "warranty_claim": [
            {"q": ["My {product} stopped working after 8 months. Is it still under warranty?"],
             "a": ["Yes, the {product} has a 2-year warranty, so you're covered. I've opened claim {ticket}; print the prepaid label from the email and send the unit back.",
                   "You're covered: the warranty runs 24 months from purchase. Claim {ticket} is open and a prepaid shipping label for the {product} is in your inbox."],
             "more": ["Once we receive the unit, a replacement ships within {days} business days."]},
            {"q": ["The battery on my {product} only lasts an hour now. Can I get it replaced under warranty?"],
             "a": ["A battery that drops below 80% capacity within the warranty period qualifies. I've opened claim {ticket} for a free battery replacement.",
                   "That sounds like a faulty battery, which the warranty covers. Claim {ticket} is open; we'll email you a prepaid label to send the {product} in."],
             "more": ["Please back up your data before sending the device; it may be reset during repair."]},
        ],
    },
    "de": {
        "billing": [
            {"q": ["Warum wurden mir diesen Monat zweimal {amount} abgebucht? Ich habe nur ein {plan}-Abo."],
             "a": ["Die zweite Abbuchung über {amount} ist nur eine Vormerkung nach einem fehlgeschlagenen Zahlungsversuch. Sie verschwindet innerhalb von {days} Werktagen.",
                   "Es wurde nur eine Zahlung über {amount} eingezogen. Die doppelte Buchung ist eine Reservierung, die Ihre Bank in {days} Werktagen freigibt."],
             "more": ["Ihre nächste Verlängerung ist am {date}; bis dahin wird nichts weiter abgebucht."]},
            {"q": ["Können Sie mir eine Rechnung über {amount} mit unserer USt-IdNr. ausstellen?"],
             "a": ["Gern. Ich habe die USt-IdNr. hinterlegt und die Rechnung neu erstellt. Sie finden sie unter Einstellungen > Abrechnung > Rechnungen.",
                   "Erledigt: Die Rechnung über {amount} enthält jetzt Firmennamen und USt-IdNr. Sie liegt unter Einstellungen > Abrechnung > Rechnungen."],
             "more": ["Künftige Rechnungen enthalten die USt-IdNr. automatisch."]},
        ],
        "order_status": [
            {"q": ["Wo ist meine Bestellung {order_id}? Sie sollte längst da sein."]},
            {"q": ["Ist mein {product} schon verschickt? Bestellnummer {order_id}."]},
        ],
        "refund": [
            {"q": ["Ich habe den {product} am {past_date} zurückgeschickt, aber noch keine Erstattung über {amount} erhalten."],
             "a": ["Ihre Rücksendung ist am {past_date} eingegangen und die Erstattung über {amount} wurde heute veranlasst. Sie sehen sie in {days} Werktagen auf Ihrem Konto.",
                   "Der {product} ist bei uns angekommen. Ich habe die Erstattung über {amount} auf Ihre ursprüngliche Zahlungsart angewiesen; bitte rechnen Sie mit {days} Werktagen."],
             "more": ["Sie erhalten eine Bestätigung mit der Referenz {ticket} per E-Mail."]},
            {"q": ["Ich möchte die Bestellung {order_id} stornieren und mein Geld zurück."],
             "a": ["Die Bestellung {order_id} war noch nicht versandt, ich habe sie storniert. Die {amount} werden innerhalb von {days} Werktagen erstattet.",
                   "Ich habe {order_id} storniert, bevor sie das Lager verlassen hat. Die Erstattung über {amount} geht auf Ihre Karte mit den Endziffern {last4}."],
             "more": ["Die Stornobestätigung ist bereits unterwegs in Ihr Postfach."]},
        ],
        "tech_support": [
            {"q": ["Die {product}-App meldet mich auf meinem {device} alle paar Minuten ab."],
             "a": ["Das liegt meist an einem abgelaufenen Sitzungstoken. Bitte aktualisieren Sie die App auf Version {version} und melden Sie sich neu an.",
                   "Bitte abmelden, die App auf Version {version} aktualisieren und wieder anmelden. Damit sind die ständigen Abmeldungen auf dem {device} behoben."],
             "more": ["Falls es weiterhin passiert, erlauben Sie der App unter Einstellungen > Datenschutz die Hintergrundaktualisierung."]},
            {"q": ["Mein {product} verbindet sich nicht mit dem WLAN, es kommt immer Fehler {error_code}."],
             "a": ["Fehler {error_code} bedeutet, dass das Gerät das 2,4-GHz-Netz nicht erreicht. Halten Sie die Reset-Taste 10 Sekunden gedrückt und koppeln Sie es neu.",
                   "{error_code} ist ein Verbindungsfehler. Starten Sie den Router neu, halten Sie das Gerät in der Nähe und wählen Sie bei der Einrichtung das 2,4-GHz-Netz."],
             "more": ["Die meisten Router zeigen beide Frequenzbänder unter getrennten Namen an."]},
        ],
        "account": [
            {"q": ["Ich kann mich nicht anmelden, die E-Mail zum Zurücksetzen des Passworts kommt nie an."],
             "a": ["Ich habe den Link zum Zurücksetzen erneut an {email} geschickt. Bitte prüfen Sie auch den Spam-Ordner; der Link ist 30 Minuten gültig.",
                   "Eine neue E-Mail zum Zurücksetzen ist unterwegs an {email}. Falls sie in 10 Minuten nicht da ist, schauen Sie bitte im Spam-Ordner nach."],
             "more": ["Aus Sicherheitsgründen funktionieren ältere Links nicht mehr."]},
            {"q": ["Bitte löschen Sie mein Kundenkonto und alle meine persönlichen Daten."],
             "a": ["Ich habe den Löschauftrag {ticket} angelegt. Ihr Konto und Ihre Daten werden innerhalb von 30 Tagen endgültig entfernt; Sie erhalten eine E-Mail.",
                   "Ihr Löschantrag {ticket} ist erfasst. Wir löschen Konto und personenbezogene Daten innerhalb von 30 Tagen und bestätigen es per E-Mail."],
             "more": ["Wenn Sie es sich anders überlegen, antworten Sie einfach innerhalb von 7 Tagen."]},
        ],
        "warranty_claim": [
            {"q": ["Mein {product} funktioniert nach 8 Monaten nicht mehr. Gilt da noch die Garantie?"],
             "a": ["Ja, der {product} hat 2 Jahre Garantie. Ich habe den Fall {ticket} eröffnet; das kostenlose Rücksendeetikett kommt per E-Mail.",
                   "Sie sind abgedeckt: Die Garantie läuft 24 Monate ab Kauf. Fall {ticket} ist eröffnet, das Versandetikett liegt in Ihrem Postfach."],
             "more": ["Sobald das Gerät bei uns ist, versenden wir innerhalb von {days} Werktagen einen Ersatz."]},
        ],
    },
    "es": {
        "billing": [
            {"q": ["¿Por qué me cobraron {amount} dos veces este mes? Solo tengo una suscripción {plan}."],
             "a": ["El segundo cargo de {amount} es una retención temporal de un reintento de pago fallido. Desaparecerá en {days} días hábiles.",
                   "Solo se cobró un pago de {amount}. El cargo duplicado es una preautorización que tu banco liberará en {days} días hábiles."],
             "more": ["Tu próxima renovación es el {date} y no habrá más cargos antes."]},
            {"q": ["¿Me pueden enviar una factura de {amount} con el NIF de mi empresa?"],
             "a": ["Claro. He añadido el NIF a tu perfil de facturación y he regenerado la factura. La encontrarás en Ajustes > Facturación > Facturas.",
                   "Listo: la factura de {amount} ya incluye el nombre y el NIF de tu empresa. La encontrarás en Ajustes > Facturación > Facturas."],
             "more": ["Las próximas facturas incluirán el NIF automáticamente."]},
        ],
        "order_status": [
            {"q": ["¿Dónde está mi pedido {order_id}? Debería haber llegado ya."]},
            {"q": ["¿Ya enviaron mi {product}? Número de pedido {order_id}."]},
        ],
        "refund": [
            {"q": ["Devolví el {product} el {past_date} y todavía no he recibido el reembolso de {amount}."],
             "a": ["Recibimos tu devolución el {past_date} y hoy hemos emitido el reembolso de {amount}. Lo verás en tu cuenta en {days} días hábiles.",
                   "El {product} ya llegó a nuestro almacén. He emitido el reembolso de {amount} a tu método de pago original; espera {days} días hábiles."],
             "more": ["Recibirás un correo de confirmación con la referencia {ticket}."]},
            {"q": ["Quiero cancelar el pedido {order_id} y que me devuelvan el dinero."],
             "a": ["El pedido {order_id} aún no se había enviado, así que lo he cancelado. Te devolveremos {amount} a tu tarjeta en {days} días hábiles.",
                   "He cancelado el pedido {order_id} antes de que saliera del almacén. Verás el reembolso de {amount} en tu tarjeta terminada en {last4}."],
             "more": ["No tienes que hacer nada más; la confirmación ya va camino de tu correo."]},
        ],
        "tech_support": [
            {"q": ["La app de {product} me cierra la sesión cada pocos minutos en mi {device}."],
             "a": ["Suele deberse a un token de sesión caducado. Actualiza la app a la versión {version} y vuelve a iniciar sesión en tu dispositivo.",
                   "Cierra sesión, actualiza la app a la versión {version} y vuelve a entrar. Eso soluciona los cierres de sesión en el {device}."],
             "more": ["Si sigue pasando, permite la actualización en segundo plano en Ajustes > Privacidad."]},
            {"q": ["Mi {product} no se conecta al wifi, siempre da el error {error_code}."],
             "a": ["El error {error_code} indica que el dispositivo no llega a la red de 2,4 GHz. Mantén pulsado el botón de reinicio 10 segundos y vuelve a emparejarlo.",
                   "{error_code} es un error de conexión. Reinicia el router, mantén el dispositivo cerca de él y elige la red de 2,4 GHz durante la configuración."],
             "more": ["La mayoría de los routers muestran las dos bandas con nombres distintos."]},
        ],
        "account": [
            {"q": ["No puedo iniciar sesión, nunca me llega el correo para restablecer la contraseña."],
             "a": ["Te he reenviado el enlace a {email}. Revisa también la carpeta de spam; el enlace es válido durante 30 minutos.",
                   "Un nuevo correo de restablecimiento va camino de {email}. Si no aparece en 10 minutos, mira en spam o promociones."],
             "more": ["Por seguridad, los enlaces anteriores ya no funcionan."]},
            {"q": ["¿Cómo cambio el correo electrónico asociado a mi cuenta?"],
             "a": ["Ve a Ajustes > Perfil > Correo, escribe la nueva dirección y confirma el enlace que te enviaremos a esa dirección.",
                   "Puedes cambiarlo en Ajustes > Perfil > Correo. El cambio se aplica cuando confirmes el enlace enviado a la nueva dirección."],
             "more": ["Tu historial de pedidos y tus direcciones guardadas no cambian."]},
        ],
        "warranty_claim": [
            {"q": ["Mi {product} dejó de funcionar a los 8 meses. ¿Sigue en garantía?"],
             "a": ["Sí, el {product} tiene 2 años de garantía. He abierto la reclamación {ticket}; imprime la etiqueta prepagada del correo y envíanos el equipo.",
                   "Estás cubierto: la garantía dura 24 meses desde la compra. La reclamación {ticket} está abierta y la etiqueta de envío ya está en tu correo."],
             "more": ["Cuando recibamos el equipo, enviaremos el reemplazo en {days} días hábiles."]},
        ],
    },
    "ja": {
        "billing": [
            {"q": ["今月{amount}が2回請求されています。{plan}プランは1つしか契約していないのですが、確認していただけますか？"],
             "a": ["2回目の{amount}は、失敗した決済の再試行による一時的な与信枠の確保です。実際には請求されておらず、{days}営業日以内に解除されます。",
                   "確認したところ、実際の請求は{amount}の1件のみです。重複分は仮押さえで、{days}営業日以内にカード会社から解除されます。"],
             "more": ["次回の更新日は{date}で、それまで追加の請求はありません。"]},
            {"q": ["会社名とインボイス登録番号が入った{amount}の請求書を発行していただくことはできますか？"],
             "a": ["承知しました。登録番号を請求先情報に追加し、請求書を再発行しました。設定 > 請求 > 請求書からダウンロードできます。",
                   "対応いたしました。{amount}の請求書に会社名と登録番号を記載しました。設定 > 請求 > 請求書でご確認ください。"],
             "more": ["今後の請求書にも登録番号が自動で記載されます。"]},
        ],
        "order_status": [
            {"q": ["注文{order_id}はいつ届きますか？お届け予定日をもう過ぎているのですが、まだ届いていません。"]},
            {"q": ["先週注文した{product}はもう発送されましたか？注文番号は{order_id}です。"]},
        ],
        "refund": [
            {"q": ["{past_date}に{product}を返品しましたが、{amount}の返金がまだ確認できません。状況を教えてください。"],
             "a": ["{past_date}に返品を受け付け、本日{amount}の返金手続きを行いました。ご利用明細には{days}営業日ほどで反映されます。",
                   "返品された{product}は倉庫に到着しています。{amount}を元のお支払い方法に返金しましたので、{days}営業日ほどお待ちください。"],
             "more": ["返金番号{ticket}を記載した確認メールをお送りします。"]},
            {"q": ["注文{order_id}をキャンセルして返金してほしいです。間違えて注文してしまいました。"],
             "a": ["注文{order_id}は未発送だったため、キャンセルいたしました。{amount}は{days}営業日以内に返金されます。ご安心ください。",
                   "出荷前に注文{order_id}をキャンセルしました。末尾{last4}のカードに{amount}が{days}営業日以内に返金されます。"],
             "more": ["キャンセル確認メールをお送りしましたので、ご確認ください。"]},
        ],
        "tech_support": [
            {"q": ["{device}で{product}アプリが数分ごとに勝手にログアウトされてしまいます。どうすればいいですか？"],
             "a": ["セッショントークンの期限切れが原因と考えられます。アプリを最新のバージョン{version}に更新し、もう一度ログインしてください。",
                   "一度ログアウトし、アプリをバージョン{version}に更新してから再ログインしてください。{device}での自動ログアウトが解消されます。"],
             "more": ["改善しない場合は、設定 > プライバシーでバックグラウンド更新を許可してください。"]},
            {"q": ["{product}がWi-Fiに接続できません。何度試してもエラー{error_code}が表示されます。"],
             "a": ["エラー{error_code}は2.4GHz帯に接続できないことを示します。リセットボタンを10秒長押しし、再度ペアリングしてください。",
                   "{error_code}は通信エラーです。ルーターを再起動し、設定時に2.4GHzのネットワークを選択してから再度お試しください。"],
             "more": ["多くのルーターでは、2つの周波数帯が別々の名前で表示されます。"]},
        ],
        "account": [
            {"q": ["ログインできません。パスワード再設定のメールを何度リクエストしても届きません。どうすればいいですか？"],
             "a": ["{email}宛てに再設定リンクを再送しました。迷惑メールフォルダもご確認ください。リンクの有効期限は30分です。",
                   "新しい再設定メールを{email}にお送りしました。10分以内に届かない場合は、迷惑メールフォルダをご確認ください。"],
             "more": ["セキュリティのため、以前のリンクは無効になっています。"]},
            {"q": ["退会したいので、アカウントと登録されている個人データをすべて削除してください。よろしくお願いします。"],
             "a": ["削除リクエスト{ticket}を受け付けました。30日以内にアカウントと個人データを完全に削除し、完了時にメールでお知らせします。",
                   "削除リクエスト{ticket}を登録しました。アカウントと個人データは30日以内に消去され、完了後にメールでご連絡します。"],
             "more": ["取り消す場合は7日以内にこのメールへご返信ください。"]},
        ],
        "warranty_claim": [
            {"q": ["購入して8か月の{product}が動かなくなりました。まだ保証の対象になりますか？"],
             "a": ["はい、{product}の保証期間は2年間です。保証申請{ticket}を作成しました。メールの着払いラベルで製品をお送りください。",
                   "保証の対象です。購入から24か月間保証されます。申請{ticket}を受け付け、着払いの配送ラベルをメールでお送りしました。"],
             "more": ["製品到着後、{days}営業日以内に交換品を発送します。"]},
        ],
    },
}

# Per-language glue for longer (shadow) answers, human edits and broken JSON.
GLUE: dict[str, dict[str, list[str]]] = {
    "en": {
        "open": ["Thanks for reaching out!", "Happy to help with that.", "Thanks for your patience.", "Thanks for getting in touch."],
        "close": ["Is there anything else I can help you with?", "Let me know if there's anything else.", "Have a great day!"],
        "extra": ["You can also check this anytime in the app under Account > Orders.",
                  "If anything is still unclear, just reply to this message and I'll pick it up right away.",
                  "I've also added a note to your account so any colleague can see the history."],
        "preamble": ["Here is the current status of your order:", "Sure! Here's what I found:"],
        "greet": ["Hi {name},\n", "Hello {name},\n"],
        "signoff": ["\nBest, {agent}", "\nThanks, {agent} from Support"],
        "names": ["Anna", "James", "Maria", "David", "Priya", "Tom", "Chloe", "Omar"],
    },
    "de": {
        "open": ["Danke für Ihre Nachricht!", "Gern helfe ich Ihnen weiter.", "Entschuldigen Sie die Unannehmlichkeiten."],
        "close": ["Kann ich sonst noch etwas für Sie tun?", "Melden Sie sich gern, falls noch etwas offen ist.", "Einen schönen Tag noch!"],
        "extra": ["Den aktuellen Stand sehen Sie jederzeit in der App unter Konto > Bestellungen.",
                  "Falls noch etwas unklar ist, antworten Sie einfach auf diese Nachricht.",
                  "Ich habe außerdem eine Notiz in Ihrem Kundenkonto hinterlegt."],
        "preamble": ["Hier ist der aktuelle Stand Ihrer Bestellung:"],
        "greet": ["Hallo {name},\n", "Guten Tag {name},\n"],
        "signoff": ["\nViele Grüße, {agent}", "\nBeste Grüße, {agent} vom Support"],
        "names": ["Lena", "Jonas", "Sophie", "Lukas", "Mia", "Felix"],
    },
    "es": {
        "open": ["¡Gracias por escribirnos!", "Con gusto te ayudo.", "Siento las molestias."],
        "close": ["¿Hay algo más en lo que pueda ayudarte?", "Avísame si necesitas algo más.", "¡Que tengas un buen día!"],
        "extra": ["También puedes consultarlo en la app, en Cuenta > Pedidos.",
                  "Si algo no queda claro, responde a este mensaje y lo reviso enseguida.",
                  "He dejado una nota en tu cuenta para que cualquier compañero vea el historial."],
        "preamble": ["Este es el estado actual de tu pedido:"],
        "greet": ["Hola {name}:\n", "Buenas, {name}:\n"],
        "signoff": ["\nUn saludo, {agent}", "\nSaludos, {agent} de Soporte"],
        "names": ["Lucía", "Mateo", "Sofía", "Pablo", "Carmen", "Diego"],
    },
    "ja": {
        "open": ["お問い合わせありがとうございます。", "ご不便をおかけして申し訳ございません。", "ご連絡ありがとうございます。"],
        "close": ["ほかにご不明な点があればお気軽にお知らせください。", "引き続きよろしくお願いいたします。"],
        "extra": ["アプリのアカウント > 注文履歴からもいつでもご確認いただけます。",
                  "ご不明な点があれば、このメッセージにそのままご返信ください。",
                  "担当者が経緯を確認できるよう、アカウントにメモを残しました。"],
        "preamble": ["ご注文の現在の状況は以下のとおりです。"],
        "greet": ["{name}様\n"],
        "signoff": ["\nサポート担当 {agent}"],
        "names": ["佐藤", "鈴木", "高橋", "田中", "伊藤"],
    },
}

# One sentence per order status and language: the JSON ``message`` field, and the prose a broken
# answer falls back to.
STATUS_MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "processing": "Your order {order_id} is being packed and will ship within 1 business day; estimated delivery {date}.",
        "shipped": "Your order {order_id} has shipped with {carrier} and should arrive by {date}.",
        "out_for_delivery": "Your order {order_id} is out for delivery with {carrier} today.",
        "delayed": "Your order {order_id} is delayed at the {carrier} hub; the new estimated delivery is {date}.",
        "delivered": "Your order {order_id} was delivered by {carrier} on {date}.",
    },
    "de": {
        "processing": "Ihre Bestellung {order_id} wird gerade verpackt und in 1 Werktag versandt; voraussichtliche Zustellung am {date}.",
        "shipped": "Ihre Bestellung {order_id} wurde mit {carrier} versandt und kommt voraussichtlich am {date} an.",
        "out_for_delivery": "Ihre Bestellung {order_id} ist heute mit {carrier} in der Zustellung.",
        "delayed": "Ihre Bestellung {order_id} verzögert sich im {carrier}-Verteilzentrum; neuer Liefertermin ist der {date}.",
        "delivered": "Ihre Bestellung {order_id} wurde am {date} von {carrier} zugestellt.",
    },
    "es": {
        "processing": "Tu pedido {order_id} se está preparando y saldrá en 1 día hábil; entrega estimada el {date}.",
        "shipped": "Tu pedido {order_id} se envió con {carrier} y debería llegar el {date}.",
        "out_for_delivery": "Tu pedido {order_id} está en reparto hoy con {carrier}.",
        "delayed": "Tu pedido {order_id} está retrasado en el centro de {carrier}; la nueva fecha estimada es el {date}.",
        "delivered": "Tu pedido {order_id} fue entregado por {carrier} el {date}.",
    },
    "ja": {
        "processing": "ご注文{order_id}は現在梱包中で、1営業日以内に発送予定です。お届け予定日は{date}です。",
        "shipped": "ご注文{order_id}は{carrier}で発送済みで、{date}にお届け予定です。",
        "out_for_delivery": "ご注文{order_id}は本日{carrier}が配達中です。",
        "delayed": "ご注文{order_id}は{carrier}の配送センターで遅延しています。新しいお届け予定日は{date}です。",
        "delivered": "ご注文{order_id}は{date}に{carrier}がお届けしました。",
    },
}
STATUS_WEIGHTS = (("processing", 0.15), ("shipped", 0.35), ("out_for_delivery", 0.12), ("delayed", 0.18), ("delivered", 0.20))
ETA_OFFSET_DAYS = {"processing": (3, 5), "shipped": (1, 4), "out_for_delivery": (0, 0), "delayed": (2, 6), "delivered": (-5, -1)}
DELIVERY_WINDOWS = ("08:00-12:00", "12:00-16:00", "16:00-20:00")

PRODUCTS = {
    "AeroBlend 500": "AB-500", "Nimbus X2": "NX2-BLK", "PixelCam 4K": "PC4K-01", "TrailPulse 3": "TP3-GRN",
    "HomeHub Mini": "HHM-WHT", "BrewMaster Pro": "BMP-220", "SoundBar S7": "SB7-BLK", "AirPure 300": "AP300",
}
PLANS = ("Starter", "Pro", "Team")
DEVICES = ("iPhone 15", "Pixel 8", "Galaxy S24", "iPad Air", "Windows laptop", "MacBook Air")
VERSIONS = ("5.14.1", "5.14.2", "5.15.0")
ERROR_CODES = ("E-214", "E-301", "E-117", "E-402")
EMAIL_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "icloud.com", "web.de", "proton.me")
CARRIERS = {"en": ("UPS", "FedEx", "USPS"), "de": ("DHL", "DPD", "Hermes"), "es": ("Correos", "SEUR", "MRW"),
            "ja": ("ヤマト運輸", "佐川急便", "日本郵便")}
MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MONTHS_ES = ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre",
             "octubre", "noviembre", "diciembre")

# --------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------


def bucket(user_id: str, salt: str = SALT) -> int:
    """The shared assignment hash; another module implements the identical rule, keep them in sync."""
    digest = hashlib.sha256(f"{salt}.{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10000


def assign_variant(user_id: str, salt: str = SALT, percent: float = PERCENT) -> str:
    """User-level arm: treatment iff the bucket falls below ``percent * 100`` (of 10,000)."""
    return "treatment" if bucket(user_id, salt) < percent * 100 else "control"


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _normal_grid(points: int = 241, limit: float = 7.0) -> list[tuple[float, float]]:
    """Deterministic quadrature grid for E[f(Z)], Z ~ N(0, 1): enough to calibrate intercepts."""
    step = 2 * limit / (points - 1)
    grid = [(-limit + i * step, math.exp(-0.5 * (-limit + i * step) ** 2)) for i in range(points)]
    total = sum(w for _, w in grid)
    return [(z, w / total) for z, w in grid]


NORMAL_GRID = _normal_grid()


def calibrate_intercept(target: float, sd: float) -> float:
    """Logit intercept a with E[sigmoid(a + sd*Z)] = target, so the realized base rate stays on target
    even though users differ in propensity (a random intercept shifts the mean of a sigmoid)."""
    lo, hi = -20.0, 20.0
    for _ in range(80):
        mid = (lo + hi) / 2
        mean = sum(w * sigmoid(mid + sd * z) for z, w in NORMAL_GRID)
        lo, hi = (mid, hi) if mean < target else (lo, mid)
    return (lo + hi) / 2


def pick(rng: random.Random, options: Sequence[str], weights: Sequence[float]) -> str:
    return rng.choices(options, weights=weights)[0]


def geometric(rng: random.Random, mean: float) -> int:
    """An integer >= 1 with the given mean (number of trials to the first success)."""
    if mean <= 1.0:
        return 1
    p = 1.0 / mean
    return 1 + int(math.log(1.0 - rng.random()) / math.log(1.0 - p))


def hex_id(rng: random.Random, prefix: str, digits: int, seen: set[str]) -> str:
    """A random id that is unique within its file (re-drawn on the astronomically rare clash)."""
    while True:
        value = f"{prefix}{rng.getrandbits(4 * digits):0{digits}x}"
        if value not in seen:
            seen.add(value)
            return value


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def clip01(x: float) -> float:
    return min(1.0, max(0.0, x))


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), small enough to avoid a dependency."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * q
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def count_tokens(rng: random.Random, text: str) -> int:
    """Roughly what a BPE tokenizer reports: ~4 Latin characters or ~1.1 CJK characters per token."""
    cjk = 0 if text.isascii() else sum(1 for ch in text if ord(ch) >= 0x3000)
    estimate = (len(text) - cjk) / 3.9 + cjk / 1.1
    return max(1, round(estimate * rng.uniform(0.93, 1.07)))


def cost_usd(model: str, input_tokens: int, output_tokens: int, cached_tokens: int) -> float:
    """Cost from token counts at the model's list price, as a provider invoice would compute it."""
    p_in, p_out, p_cache = PRICES[model]
    dollars = ((input_tokens - cached_tokens) * p_in + cached_tokens * p_cache + output_tokens * p_out) / 1e6
    return round(dollars, 6)


# --------------------------------------------------------------------------------------------------
# Time: weekday/weekend and daily cycle
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """A traffic window with cumulative hourly weights, so session starts follow the traffic shape."""

    start: datetime
    days: int
    cum_weights: tuple[float, ...]

    @classmethod
    def build(cls, start: datetime, days: int) -> Window:
        weights = []
        for hour in range(days * 24):
            moment = start + timedelta(hours=hour)
            weights.append(WEEKDAY_WEIGHTS[moment.weekday()] * HOUR_WEIGHTS[moment.hour])
        cum, total = [], 0.0
        for w in weights:
            total += w
            cum.append(total)
        return cls(start, days, tuple(cum))

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days) - timedelta(seconds=1)

    def sample(self, rng: random.Random) -> datetime:
        hour = bisect.bisect_right(self.cum_weights, rng.random() * self.cum_weights[-1])
        return self.start + timedelta(hours=hour, seconds=rng.randrange(3600))

    def session_times(self, rng: random.Random, n: int) -> list[datetime]:
        """Request times of one session: 25 s to a few minutes apart, kept inside the window."""
        gaps = [0] + [int(min(900, 25 + rng.lognormvariate(4.3, 0.6))) for _ in range(n - 1)]
        start = self.sample(rng)
        span = sum(gaps)
        if start + timedelta(seconds=span) > self.end:
            start = self.end - timedelta(seconds=span)
        times, t = [], start
        for gap in gaps:
            t += timedelta(seconds=gap)
            times.append(t)
        return times


# --------------------------------------------------------------------------------------------------
# Text: slots, answers, broken JSON, human edits
# --------------------------------------------------------------------------------------------------


def format_date(day: date, lang: str) -> str:
    if lang == "de":
        return f"{day.day:02d}.{day.month:02d}.{day.year}"
    if lang == "es":
        return f"{day.day} de {MONTHS_ES[day.month - 1]}"
    if lang == "ja":
        return f"{day.month}月{day.day}日"
    return f"{MONTHS_EN[day.month - 1]} {day.day}"


def format_amount(rng: random.Random, lang: str) -> str:
    """Prices as a shop in that market writes them (yen has no cents)."""
    if lang == "ja":
        return f"¥{rng.choice((980, 1480, 1980, 2980, 4980, 7980, 12800, 19800, 34800)):,}"
    cents = rng.choice((999, 1499, 1999, 2499, 2999, 4999, 7999, 12900, 19900, 34900))
    if lang in ("de", "es"):
        return f"{cents // 100},{cents % 100:02d} €"
    return f"${cents // 100}.{cents % 100:02d}"


def make_slots(rng: random.Random, lang: str, moment: datetime) -> dict[str, str]:
    """Every placeholder a template may use, drawn once per request so input and answer agree."""
    product = rng.choice(tuple(PRODUCTS))
    local = rng.choice(("j", "m", "a", "s", "k", "l", "t", "c"))
    return {
        "order_id": f"ORD-{rng.randrange(1_000_000, 9_999_999)}",
        "amount": format_amount(rng, lang),
        "product": product,
        "plan": rng.choice(PLANS),
        "last4": f"{rng.randrange(10_000):04d}",
        "days": rng.choice(("3-5", "5-7", "2-3")),
        "ticket": f"CS-{rng.randrange(100_000, 999_999)}",
        "email": f"{local}***@{rng.choice(EMAIL_DOMAINS)}",
        "device": rng.choice(DEVICES),
        "version": rng.choice(VERSIONS),
        "error_code": rng.choice(ERROR_CODES),
        "carrier": rng.choice(CARRIERS[lang]),
        "date": format_date(moment + timedelta(days=rng.randint(2, 6)), lang),
        "past_date": format_date(moment - timedelta(days=rng.randint(3, 12)), lang),
    }


def order_status_object(rng: random.Random, lang: str, moment: datetime, slots: dict[str, str],
                        detailed: bool) -> dict[str, Any]:
    """The structured answer for ``order_status``; ``detailed`` adds the fields the shadow prompt asks for."""
    status = pick(rng, [s for s, _ in STATUS_WEIGHTS], [w for _, w in STATUS_WEIGHTS])
    low, high = ETA_OFFSET_DAYS[status]
    eta = moment + timedelta(days=rng.randint(low, high))
    obj: dict[str, Any] = {"order_id": slots["order_id"], "status": status, "carrier": slots["carrier"],
                           "eta": eta.strftime("%Y-%m-%d")}
    if detailed:
        if slots["carrier"] == "UPS":
            tracking = "1Z" + f"{rng.getrandbits(64):016X}"
        else:
            tracking = f"{rng.randrange(10**11, 10**12)}"
        obj["tracking_number"] = tracking
        obj["items"] = [{"sku": PRODUCTS[slots["product"]], "name": slots["product"], "qty": rng.choice((1, 1, 1, 2))}]
        obj["message"] = STATUS_MESSAGES[lang][status].format(**{**slots, "date": format_date(eta, lang)})
    return obj


def status_sentence(obj: dict[str, Any], lang: str) -> str:
    eta = date.fromisoformat(obj["eta"])
    return STATUS_MESSAGES[lang][obj["status"]].format(order_id=obj["order_id"], carrier=obj["carrier"],
                                                        date=format_date(eta, lang))


def dump_json_answer(obj: dict[str, Any]) -> str:
    """JSON as the model writes it (spaces after separators, non-ASCII kept)."""
    return json.dumps(obj, ensure_ascii=False)


def break_json(rng: random.Random, obj: dict[str, Any], lang: str, style: str) -> str:
    """How a model breaks a JSON answer in practice: prose, a cut-off object, or chatter before the JSON."""
    text = dump_json_answer(obj)
    if style == "truncated":
        return text[: int(len(text) * rng.uniform(0.55, 0.9))]
    if style == "preamble":
        return rng.choice(GLUE[lang]["preamble"]) + "\n" + text
    return status_sentence(obj, lang)


def join_sentences(parts: Iterable[str], lang: str) -> str:
    return ("" if lang == "ja" else " ").join(parts)


def compose_answer(rng: random.Random, lang: str, topic: dict[str, list[str]], slots: dict[str, str],
                   variant: str) -> str:
    """A full support answer for the shadow file: optional opener, the answer, detail, extra, closer.
    The treatment model is chattier: it adds detail and an extra sentence more often (~20% longer)."""
    glue = GLUE[lang]
    verbose = variant == "treatment"
    use = {
        "open": rng.random() < 0.55,
        "more": rng.random() < (0.6 if verbose else 0.45),
        "extra": verbose and rng.random() < 0.4,
        "close": rng.random() < 0.5,
    }
    texts = {"open": rng.choice(glue["open"]), "a": answer_phrasing(topic, variant), "more": rng.choice(topic["more"]),
             "extra": rng.choice(glue["extra"]), "close": rng.choice(glue["close"])}

    def render() -> str:
        parts = [texts[k] for k in ("open", "a", "more", "extra", "close") if k == "a" or use[k]]
        return join_sentences(parts, lang).format(**slots)

    for part in ("close", "more", "open"):  # short languages (ja) still get >= 100 characters
        if len(render()) >= 100:
            break
        use[part] = True
    return render()


def human_edit(rng: random.Random, text: str, lang: str) -> str:
    """What a support agent sends after touching up the draft: a greeting line, a sign-off, and now and
    then the last sentence cut, so edit distances are small but not all alike."""
    glue = GLUE[lang]
    stop = "。" if lang == "ja" else ". "
    head, sep, _ = text.rstrip("。.").rpartition(stop)
    if sep and rng.random() < 0.25:
        text = head + stop.strip()
    names = glue["names"]
    roll = rng.random()
    customer = None
    if roll < 0.6:
        greeting = rng.choice(glue["greet"])
        customer = rng.choice(names)
        text = greeting.format(name=customer) + text
    if roll > 0.4:
        signoff = rng.choice(glue["signoff"])
        agent = rng.choice(names)
        if agent == customer:  # the agent is not the customer; no extra draw, so the stream stays put
            agent = names[(names.index(agent) + 1) % len(names)]
        text += signoff.format(agent=agent)
    return text


# --------------------------------------------------------------------------------------------------
# Per-call measurements shared by the canary and the shadow file
# --------------------------------------------------------------------------------------------------


@dataclass
class CallMetrics:
    """Tokens, latency and cost of one model call, kept consistent with each other."""

    latency_ms: int
    ttft_ms: int | None
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cache_hit: bool
    cost_usd: float


def measure_call(rng: random.Random, model: str, input_tokens: int, output: str, error: str | None,
                 tail_share: float = 0.03) -> CallMetrics:
    """Latency ~ time to first token (faster on a prompt-cache hit) + per-token decode time, and a
    ``tail_share`` of calls queued on a busy replica (the shadow candidate gets a slightly fatter tail)."""
    if error == "rate_limit":  # rejected before any work: nothing billed, no tokens
        return CallMetrics(rng.randrange(60, 400), None, 0, 0, 0, False, 0.0)
    cache_hit = rng.random() < CACHE_HIT_RATE
    # the cache breakpoint sits after the system prompt or after one or two retrieved chunks
    cached = min(input_tokens - 64, SYSTEM_PROMPT_TOKENS + PASSAGE_TOKENS * rng.randrange(0, 3)) if cache_hit else 0
    ttft = rng.lognormvariate(math.log(560), 0.38) * (0.6 if cache_hit else 1.0)
    if error == "timeout":  # client gives up at 30 s; the prompt was processed and is billed
        return CallMetrics(30_000 + rng.randrange(0, 250), None, input_tokens, 0, cached, cache_hit,
                           cost_usd(model, input_tokens, 0, cached))
    output_tokens = count_tokens(rng, output)
    decode = output_tokens * rng.lognormvariate(math.log(17), 0.25) + rng.lognormvariate(math.log(120), 0.5)
    latency = ttft + decode
    if rng.random() < tail_share:
        latency *= rng.uniform(1.6, 3.0)
    return CallMetrics(round(latency), round(ttft), input_tokens, output_tokens, cached, cache_hit,
                       cost_usd(model, input_tokens, output_tokens, cached))


# --------------------------------------------------------------------------------------------------
# Users and sessions, shared by the canary and the shadow file
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class User:
    """A user with fixed traits: language, tier, and latent propensities that correlate their requests."""

    user_id: str
    variant: str
    language: str
    tier: str
    satisfaction: float  # N(0,1): happy users thumb up, complete tasks, rarely abandon
    engagement: float  # N(0,1): how often the user clicks a thumb at all


@dataclass(frozen=True)
class Session:
    """What one conversation is about. Drawn once per session, so a user asking twice about an order
    asks about the same order, gets the same tool result, and the retrieved context stays put."""

    session_id: str
    user: User
    intent: str
    topic: dict[str, list[str]]
    slots: dict[str, str]
    order: dict[str, Any] | None  # the order-status tool result, for intent == order_status
    passages: int  # help-center chunks retrieved into the prompt


@dataclass
class Call:
    """Skeleton of one call before text and outcomes are drawn; ``defect`` marks planted situations."""

    request_id: str
    session: Session
    moment: datetime
    turn: int
    error: str | None = None
    defect: str | None = None

    @property
    def intent(self) -> str:
        return self.session.intent


def make_users(rng: random.Random, n: int) -> list[User]:
    ids = sorted(rng.sample(range(1, 1_000_000), n))
    users = []
    for number in ids:
        user_id = f"u_{number:06d}"
        users.append(User(user_id, assign_variant(user_id), pick(rng, LANGUAGES, LANGUAGE_WEIGHTS),
                          pick(rng, TIERS, TIER_WEIGHTS), rng.gauss(0, 1), rng.gauss(0, 1)))
    return users


def make_session(rng: random.Random, session_id: str, user: User, intent: str, start: datetime,
                 detailed: bool) -> Session:
    lang = user.language
    slots = make_slots(rng, lang, start)
    order = order_status_object(rng, lang, start, slots, detailed) if intent == "order_status" else None
    return Session(session_id, user, intent, rng.choice(TOPICS[lang][intent]), slots, order,
                   rng.randint(1, MAX_PASSAGES))


def make_calls(rng: random.Random, users: list[User], window: Window, intent_weights: Sequence[float],
               plan: Callable[[random.Random], list[int]], detailed: bool) -> list[Call]:
    """Sessions and their calls for every user; ``plan`` gives the number of calls per session."""
    seen_requests: set[str] = set()
    seen_sessions: set[str] = set()
    calls = []
    for user in users:
        for n_requests in plan(rng):
            times = window.session_times(rng, n_requests)
            session = make_session(rng, hex_id(rng, "sess_", 8, seen_sessions), user,
                                   pick(rng, INTENTS, intent_weights), times[0], detailed)
            for turn, moment in enumerate(times):
                calls.append(Call(hex_id(rng, "req_", 12, seen_requests), session, moment, turn))
    return calls


def prompt_tokens(rng: random.Random, call: Call, user_text: str) -> int:
    """System prompt and tools, retrieved chunks, ~180 tokens of history per earlier turn, the message."""
    return (SYSTEM_PROMPT_TOKENS + PASSAGE_TOKENS * call.session.passages + HISTORY_TOKENS * call.turn
            + count_tokens(rng, user_text))


def answer_phrasing(topic: dict[str, list[str]], variant: str) -> str:
    return topic["a"][0 if variant == "control" else 1]


# --------------------------------------------------------------------------------------------------
# Canary: one record per LLM call, one week, 5% of users on the new model
# --------------------------------------------------------------------------------------------------


def canary_plan(rng: random.Random) -> list[int]:
    """Calls per session for one user: most users come once or twice; ~2.5% are heavy (20+ calls)."""
    if rng.random() < 0.025:
        return [geometric(rng, 2.6) for _ in range(5 + geometric(rng, 4.5))]
    return [geometric(rng, 1.6) for _ in range(geometric(rng, 1.35))]


def plant_canary_failures(rng: random.Random, calls: list[Call]) -> None:
    """Transport errors hit both arms alike. The planted regression: exactly 35% of the treatment's
    answered order_status calls break the JSON (mixed styles); the control model truncates one now and then."""
    for call in calls:
        roll = rng.random()
        if roll < RATE_LIMIT_RATE:
            call.error = "rate_limit"
        elif roll < RATE_LIMIT_RATE + TIMEOUT_RATE:
            call.error = "timeout"
    eligible = [c for c in calls if c.intent == "order_status" and c.error is None]
    treatment = [c for c in eligible if c.session.user.variant == "treatment"]
    for call in rng.sample(treatment, round(JSON_BREAK_SHARE * len(treatment))):
        call.defect = pick(rng, BREAK_STYLES, BREAK_STYLE_WEIGHTS)
    for call in eligible:
        if call.session.user.variant == "control" and rng.random() < CONTROL_JSON_BREAK_RATE:
            call.defect = "truncated"


# Engagement flags: (name, base rate for an answered call, weight on the user's satisfaction,
# logit shifts for calls that did not get a usable answer).
ENGAGEMENT_FLAGS: tuple[tuple[str, float, float, dict[str, float]], ...] = (
    ("retried", 0.04, -1.0, {"json_parse": 2.2, "rate_limit": 4.5, "timeout": 3.5}),
    ("abandoned", 0.05, -1.4, {"json_parse": 1.2, "rate_limit": 1.8, "timeout": 2.3}),
    ("follow_up", 0.20, -1.0, {"json_parse": 1.6, "rate_limit": -0.8, "timeout": -0.8}),
    ("task_completed", 0.74, 1.0, {"json_parse": -1.9, "rate_limit": -1.6, "timeout": -2.0}),
)


@dataclass(frozen=True)
class OutcomeModel:
    """Logit intercepts calibrated once, so base rates hold after averaging over users' propensities."""

    thumbs_down: float
    thumbs_up: float
    broken_down: float
    flags: dict[str, float]

    @classmethod
    def calibrate(cls) -> OutcomeModel:
        thumbs_sd = math.hypot(SATISFACTION_SD, ENGAGEMENT_SD)
        return cls(
            thumbs_down=calibrate_intercept(THUMBS_DOWN_BASE, thumbs_sd),
            thumbs_up=calibrate_intercept(THUMBS_UP_BASE, thumbs_sd),
            broken_down=calibrate_intercept(BROKEN_THUMBS_DOWN, thumbs_sd),
            flags={name: calibrate_intercept(rate, abs(weight) * SATISFACTION_SD)
                   for name, rate, weight, _ in ENGAGEMENT_FLAGS},
        )

    def draw(self, rng: random.Random, user: User, failure: str | None) -> dict[str, Any]:
        """Thumbs and engagement flags of one call, from the user's latent traits and the call's fate."""
        s, e = user.satisfaction * SATISFACTION_SD, user.engagement * ENGAGEMENT_SD
        thumbs: int | None = None
        if failure not in ("rate_limit", "timeout"):  # no answer, nothing to rate
            p_down = sigmoid((self.broken_down if failure else self.thumbs_down) + e - s)
            p_up = min(1.0 - p_down, sigmoid(self.thumbs_up + e + s - (2.5 if failure else 0.0)))
            roll = rng.random()
            thumbs = -1 if roll < p_down else (1 if roll < p_down + p_up else None)
        out: dict[str, Any] = {"thumbs": thumbs}
        for name, _, weight, shifts in ENGAGEMENT_FLAGS:
            out[name] = rng.random() < sigmoid(self.flags[name] + weight * s + shifts.get(failure or "", 0.0))
        if out["abandoned"]:
            out["task_completed"] = False
        return out


def canary_row(rng: random.Random, call: Call, outcomes: OutcomeModel) -> Row:
    """One canonical trace record, fields in PRODUCT.md order."""
    session = call.session
    user = session.user
    lang, model = user.language, MODEL_BY_VARIANT[user.variant]
    user_text = rng.choice(session.topic["q"]).format(**session.slots)
    failure = call.error or ("json_parse" if call.defect else None)
    if call.error:
        output = ""
    elif session.order is not None:
        output = break_json(rng, session.order, lang, call.defect) if call.defect else dump_json_answer(session.order)
    else:
        output = answer_phrasing(session.topic, user.variant).format(**session.slots)
    metrics = measure_call(rng, model, prompt_tokens(rng, call, user_text), output, call.error)
    result = outcomes.draw(rng, user, failure)
    final_text = None
    if failure is None and session.order is None and rng.random() < FINAL_TEXT_RATE:
        final_text = human_edit(rng, output, lang)
    judge_score = None
    if not call.error and rng.random() < JUDGE_SAMPLE_RATE:
        mean = 0.18 if call.defect else 0.82 + 0.04 * user.satisfaction
        judge_score = round(clip01(rng.gauss(mean, 0.09)) * 10) / 10  # a 0-10 rubric, normalized
    return {
        "request_id": call.request_id,
        "timestamp": iso(call.moment),
        "user_id": user.user_id,
        "session_id": session.session_id,
        "variant": user.variant,
        "served": True,
        "model": model,
        "prompt_version": PROMPT_VERSION,
        "input": user_text,
        "output": output,
        "latency_ms": metrics.latency_ms,
        "ttft_ms": metrics.ttft_ms,
        "cost_usd": metrics.cost_usd,
        "input_tokens": metrics.input_tokens,
        "output_tokens": metrics.output_tokens,
        "cached_tokens": metrics.cached_tokens,
        "cache_hit": metrics.cache_hit,
        "error": failure,
        "thumbs": result["thumbs"],
        "retried": result["retried"],
        "abandoned": result["abandoned"],
        "follow_up": result["follow_up"],
        "task_completed": result["task_completed"],
        "final_text": final_text,
        "judge_score": judge_score,
        "tags": [call.intent],
        "metadata": {"intent": call.intent, "language": lang, "tier": user.tier},
    }


def generate_canary(seed: int) -> list[Row]:
    rng = random.Random(f"{seed}:canary")
    users = make_users(rng, CANARY_USERS)
    calls = make_calls(rng, users, Window.build(CANARY_START, CANARY_DAYS), CANARY_INTENT_WEIGHTS,
                       canary_plan, detailed=False)
    plant_canary_failures(rng, calls)
    outcomes = OutcomeModel.calibrate()
    rows = [canary_row(rng, call, outcomes) for call in calls]
    rows.sort(key=lambda r: (r["timestamp"], r["request_id"]))
    return rows


# --------------------------------------------------------------------------------------------------
# Shadow: paired rows, 48 h, candidate computed but not served, judged in both orders
# --------------------------------------------------------------------------------------------------


def judge_verdicts(rng: random.Random, quality_gap: float, len_baseline: int, len_candidate: int) -> list[Row]:
    """Pairwise judge with the biases real LLM judges have: it favours the answer shown first and,
    somewhat, the longer answer. ``quality_gap`` > 0 means the candidate is truly better."""
    lean = quality_gap + JUDGE_LENGTH_COEF * math.log(max(len_candidate, 1) / max(len_baseline, 1))
    verdicts = []
    for order, position in (("baseline_first", -JUDGE_POSITION_BIAS), ("candidate_first", JUDGE_POSITION_BIAS)):
        score = lean + position + rng.gauss(0, JUDGE_NOISE_SD)
        if rng.random() < JUDGE_ERROR_RATE:
            winner = "error"
        elif score > JUDGE_TIE_BAND:
            winner = "candidate"
        elif score < -JUDGE_TIE_BAND:
            winner = "baseline"
        else:
            winner = "tie"
        verdicts.append({"judge": JUDGE_NAME, "order": order, "winner": winner})
    return verdicts


def arm_object(variant: str, metrics: CallMetrics, output: str, error: str | None) -> Row:
    return {
        "variant": variant,
        "served": variant == "control",
        "model": MODEL_BY_VARIANT[variant],
        "prompt_version": PROMPT_VERSION,
        "output": output,
        "latency_ms": metrics.latency_ms,
        "ttft_ms": metrics.ttft_ms,
        "cost_usd": metrics.cost_usd,
        "input_tokens": metrics.input_tokens,
        "output_tokens": metrics.output_tokens,
        "cached_tokens": metrics.cached_tokens,
        "cache_hit": metrics.cache_hit,
        "error": error,
    }


def shadow_plan(rng: random.Random) -> list[int]:
    """About two shadowed calls per user over the 48 hours."""
    return [geometric(rng, 1.5) for _ in range(geometric(rng, 1.35))]


def plant_shadow_defects(rng: random.Random, calls: list[Call]) -> None:
    """Exact counts for the planted situations, drawn without replacement so none overlap."""
    free = list(calls)
    rng.shuffle(free)
    for defect, count in (("missing", SHADOW_MISSING_CANDIDATES), ("timeout", SHADOW_CANDIDATE_TIMEOUTS)):
        for call in free[:count]:
            call.defect = defect
        free = free[count:]
    order_status = [c for c in free if c.intent == "order_status"]
    for call in rng.sample(order_status, round(JSON_BREAK_SHARE * len(order_status))):
        call.defect = "json_break"
    account = [c for c in free if c.intent == "account"]
    n_cand = round(SHADOW_REFUSAL_RATE["treatment"] * len(account))
    n_base = round(SHADOW_REFUSAL_RATE["control"] * len(account))
    picked = rng.sample(account, n_cand + n_base)
    for call in picked[:n_cand]:
        call.defect = "refusal_candidate"
    for call in picked[n_cand:]:
        call.defect = "refusal_baseline"


def shadow_outputs(rng: random.Random, call: Call) -> tuple[str, str, float]:
    """Baseline text, candidate text, and the true quality gap the judge sees (candidate minus baseline)."""
    session = call.session
    lang = session.user.language
    if session.order is not None:
        baseline = dump_json_answer(session.order)
        if call.defect == "json_break":
            style = pick(rng, BREAK_STYLES, BREAK_STYLE_WEIGHTS)
            if style == "prose":
                glue = GLUE[lang]
                return baseline, join_sentences([rng.choice(glue["open"]), status_sentence(session.order, lang),
                                                 rng.choice(glue["close"])], lang), -3.0
            return baseline, break_json(rng, session.order, lang, style), -3.0
        if rng.random() < 0.35:  # same tool result, same serialization
            return baseline, baseline, 0.0
        richer = dict(session.order)
        richer["last_update"] = iso(call.moment - timedelta(minutes=rng.randrange(20, 600)))
        if richer["status"] in ("shipped", "out_for_delivery", "delayed"):
            richer["delivery_window"] = rng.choice(DELIVERY_WINDOWS)
        return baseline, dump_json_answer(richer), rng.gauss(0, JUDGE_GAP_SD / 2)
    baseline = compose_answer(rng, lang, session.topic, session.slots, "control")
    candidate = compose_answer(rng, lang, session.topic, session.slots, "treatment")
    gap = rng.gauss(0, JUDGE_GAP_SD)
    if call.defect == "refusal_candidate":
        return baseline, REFUSAL, -3.0
    if call.defect == "refusal_baseline":
        return REFUSAL, candidate, 3.0
    return baseline, candidate, gap


def shadow_row(rng: random.Random, call: Call) -> Row:
    session = call.session
    user = session.user
    user_text = rng.choice(session.topic["q"]).format(**session.slots)
    baseline_text, candidate_text, gap = shadow_outputs(rng, call)
    input_tokens = prompt_tokens(rng, call, user_text)
    base_metrics = measure_call(rng, CONTROL_MODEL, input_tokens, baseline_text, None)
    row: Row = {
        "request_id": call.request_id,
        "user_id": user.user_id,
        "session_id": session.session_id,
        "timestamp": iso(call.moment),
        "input": user_text,
        "metadata": {"intent": call.intent, "language": user.language, "tier": user.tier},
        "baseline": arm_object("control", base_metrics, baseline_text, None),
    }
    if call.defect == "missing":  # the shadow call was dropped: nothing to pair, nothing judged
        row["judgements"] = []
        return row
    cand_error = {"timeout": "timeout", "json_break": "json_parse"}.get(call.defect or "")
    if cand_error == "timeout":
        candidate_text, gap = "", -4.0
    cand_metrics = measure_call(rng, TREATMENT_MODEL, input_tokens, candidate_text,
                                "timeout" if cand_error == "timeout" else None, tail_share=SHADOW_CANDIDATE_TAIL)
    row["candidate"] = arm_object("treatment", cand_metrics, candidate_text, cand_error)
    row["judgements"] = judge_verdicts(rng, gap, len(baseline_text), len(candidate_text))
    return row


def generate_shadow(seed: int) -> list[Row]:
    rng = random.Random(f"{seed}:shadow")
    users = make_users(rng, SHADOW_USERS)
    calls = make_calls(rng, users, Window.build(SHADOW_START, SHADOW_DAYS), SHADOW_INTENT_WEIGHTS,
                       shadow_plan, detailed=True)
    plant_shadow_defects(rng, calls)
    rows = [shadow_row(rng, call) for call in calls]
    rows.sort(key=lambda r: (r["timestamp"], r["request_id"]))
    return rows


# --------------------------------------------------------------------------------------------------
# Evals: 120 cases x 3 repeats; a baseline and three candidates with known differences
# --------------------------------------------------------------------------------------------------


@dataclass
class EvalCase:
    case_id: str
    intent: str
    cluster: str
    state: str  # pass | fail | flaky (in the baseline)

    @property
    def tags(self) -> list[str]:
        return [self.intent, "high_stakes"] if self.intent == "refund" else [self.intent]


def make_eval_cases(rng: random.Random) -> list[EvalCase]:
    """120 cases grouped into ~40 source conversations, with 96 stable passes, 16 stable fails, 8 flaky.
    order_status gets exactly one fail and one flaky, so 'most of them passed' holds for pr-483."""
    cases: list[EvalCase] = []
    cluster_no = 0
    for intent, n in EVAL_CASES_PER_INTENT.items():
        remaining = n
        while remaining:
            cluster_no += 1
            size = min(remaining, rng.choice((2, 3, 3, 4, 4)))
            for _ in range(size):
                cases.append(EvalCase(f"case_{len(cases) + 1:03d}", intent, f"conv_{cluster_no:02d}", "pass"))
            remaining -= size
    order_status = [c for c in cases if c.intent == "order_status"]
    others = [c for c in cases if c.intent != "order_status"]
    order_status[rng.randrange(len(order_status))].state = "flaky"
    pool = others
    rng.shuffle(pool)
    for c in pool[:7]:
        c.state = "flaky"
    fail_os = [c for c in order_status if c.state == "pass"]
    fail_os[rng.randrange(len(fail_os))].state = "fail"
    for c in pool[7:22]:
        c.state = "fail"
    return cases


def eval_rows(rng: random.Random, case: EvalCase, variant: str, outcome: str,
              base: list[Row] | None = None) -> list[Row]:
    """Rows of one case for one variant. ``outcome`` pass/fail/flaky draws fresh scores; 'same' copies
    the baseline rows (only the variant changes), as a re-run of a deterministic grader would."""
    if outcome == "same" and base is not None:
        return [{**r, "variant": variant} for r in base]
    if outcome == "flaky":
        passes = rng.sample([True, True, False] if rng.random() < 0.5 else [True, False, False], 3)
    else:
        passes = [outcome == "pass"] * EVAL_REPEATS
    rows = []
    for repeat, passed in enumerate(passes, start=1):
        score = rng.uniform(EVAL_PASS_THRESHOLD, 1.0) if passed else rng.uniform(0.05, EVAL_PASS_THRESHOLD - 0.01)
        rows.append({"case_id": case.case_id, "variant": variant, "repeat": repeat, "passed": passed,
                     "score": round(score, 3), "tags": case.tags, "error": None, "cluster": case.cluster})
    return rows


def generate_evals(seed: int) -> dict[str, list[Row]]:
    """The baseline plus three candidates, each differing from it exactly as the README states."""
    rng = random.Random(f"{seed}:evals")
    cases = make_eval_cases(rng)
    baseline = {c.case_id: eval_rows(rng, c, "main", c.state) for c in cases}
    stable_pass = [c for c in cases if c.state == "pass"]
    stable_fail = [c for c in cases if c.state == "fail"]

    def variant_file(variant: str, overrides: dict[str, str], drop: Sequence[str] = ()) -> list[Row]:
        rows: list[Row] = []
        for c in cases:
            if c.case_id in drop:
                continue
            outcome = overrides.get(c.case_id, "flaky" if c.state == "flaky" else "same")
            rows.extend(eval_rows(rng, c, variant, outcome, baseline[c.case_id]))
        return rows

    # pr-481: one high-stakes refund pass -> fail, two stable fails -> pass. Net +1, strict mode fails.
    swap_lost = rng.choice([c for c in stable_pass if c.intent == "refund"])
    swap_gained = rng.sample([c for c in stable_fail if c.intent != "order_status"], 2)
    swap = variant_file("pr-481", {swap_lost.case_id: "fail", **{c.case_id: "pass" for c in swap_gained}})

    # pr-482: twelve stable fails now pass, nothing lost.
    improved_cases = rng.sample(stable_fail, 12)
    improved = variant_file("pr-482", {c.case_id: "pass" for c in improved_cases})

    # pr-483: every order_status case fails (JSON broken), one case missing, two timed-out rows.
    broken = {c.case_id: "fail" for c in cases if c.intent == "order_status"}
    candidates_for_defects = rng.sample([c for c in stable_pass if c.intent != "order_status"], 3)
    missing = candidates_for_defects[0].case_id
    regression = variant_file("pr-483", broken, drop=[missing])
    timeout_cases = {c.case_id for c in candidates_for_defects[1:]}
    for row in regression:
        if row["case_id"] in timeout_cases and row["repeat"] == 2:
            row.update(passed=False, score=0.0, error="timeout")

    return {
        "baseline.jsonl": [r for c in cases for r in baseline[c.case_id]],
        "candidate_swap.jsonl": swap,
        "candidate_improved.jsonl": improved,
        "candidate_regression.jsonl": regression,
    }


# --------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------


def to_line(row: Row) -> str:
    return json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n"


def write_jsonl(path: Path, rows: Iterable[Row], compress: bool) -> None:
    """Byte-stable output: fixed key order, no timestamp or file name in the gzip header."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(to_line(r) for r in rows).encode("utf-8")
    if compress:
        with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0,
                                                    compresslevel=9) as gz:
            gz.write(data)
    else:
        path.write_bytes(data)


# --------------------------------------------------------------------------------------------------
# Realized effect sizes (printed for the README)
# --------------------------------------------------------------------------------------------------


def share(rows: Sequence[Row], pred: Callable[[Row], bool]) -> float:
    return sum(1 for r in rows if pred(r)) / len(rows) if rows else float("nan")


def user_level_z(rows: Sequence[Row], metric: Callable[[Row], float], arm_key: Callable[[Row], str]) -> float:
    """z of the treatment-minus-control difference of a per-call ratio metric, with the delta-method
    variance on per-user sums (requests of one user are correlated)."""
    stats = {}
    for arm in ("control", "treatment"):
        per_user: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
        for r in rows:
            if arm_key(r) == arm:
                acc = per_user[r["user_id"]]
                acc[0] += metric(r)
                acc[1] += 1
        sums = list(per_user.values())
        total_y, total_n, k = sum(y for y, _ in sums), sum(n for _, n in sums), len(sums)
        ratio = total_y / total_n
        var = sum((y - ratio * n) ** 2 for y, n in sums) / total_n ** 2 * k / (k - 1)
        stats[arm] = (ratio, var)
    diff = stats["treatment"][0] - stats["control"][0]
    return diff / math.sqrt(stats["treatment"][1] + stats["control"][1])


def icc_anova(rows: Sequence[Row], metric: Callable[[Row], float]) -> float:
    """One-way ANOVA intraclass correlation of a per-call metric within users."""
    groups: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        groups[r["user_id"]].append(metric(r))
    means = {u: sum(g) / len(g) for u, g in groups.items()}
    n_total, k = sum(len(g) for g in groups.values()), len(groups)
    grand = sum(sum(g) for g in groups.values()) / n_total
    ssb = sum(len(g) * (means[u] - grand) ** 2 for u, g in groups.items())
    ssw = sum((v - means[u]) ** 2 for u, g in groups.items() for v in g)
    msb, msw = ssb / (k - 1), ssw / (n_total - k)
    n0 = (n_total - sum(len(g) ** 2 for g in groups.values()) / n_total) / (k - 1)
    return (msb - msw) / (msb + (n0 - 1) * msw)


def indicator(pred: Callable[[Row], bool]) -> Callable[[Row], float]:
    return lambda r: float(pred(r))


def pct(x: float, digits: int = 2) -> str:
    return f"{100 * x:.{digits}f}%"


def summarize_canary(rows: Sequence[Row]) -> list[str]:
    by_arm = {arm: [r for r in rows if r["variant"] == arm] for arm in ("control", "treatment")}
    users = {arm: len({r["user_id"] for r in arm_rows}) for arm, arm_rows in by_arm.items()}
    per_user = Counter(r["user_id"] for r in rows)
    out = [
        f"canary: {len(rows)} rows, {len(per_user)} users, {len({r['session_id'] for r in rows})} sessions, "
        f"{rows[0]['timestamp']} .. {rows[-1]['timestamp']}",
        f"  requests per user: mean {fmean(per_user.values()):.2f}, median "
        f"{statistics.median(per_user.values()):.0f}, max {max(per_user.values())}, users with 20+: "
        f"{sum(1 for v in per_user.values() if v >= 20)}",
        f"  users: control {users['control']}, treatment {users['treatment']} "
        f"({pct(users['treatment'] / len(per_user))} of users); rows: control {len(by_arm['control'])}, "
        f"treatment {len(by_arm['treatment'])}",
    ]
    expected = len(per_user) * PERCENT / 100
    chi2 = (users["treatment"] - expected) ** 2 / expected + (users["control"] - (len(per_user) - expected)) ** 2 \
        / (len(per_user) - expected)
    out.append(f"  sample ratio: {users['treatment']} treatment users vs {expected:.0f} expected at {PERCENT}%, "
               f"chi-square {chi2:.2f}, p = {math.erfc(math.sqrt(chi2 / 2)):.2f}")
    weekday = [r for r in rows if date.fromisoformat(r["timestamp"][:10]).weekday() < 5]
    out.append(f"  weekend calls/day vs weekday calls/day: "
               f"{(len(rows) - len(weekday)) / 2 / (len(weekday) / 5):.2f}")
    metrics: list[tuple[str, Callable[[Row], bool]]] = [
        ("thumbs-down", lambda r: r["thumbs"] == -1),
        ("thumbs-up", lambda r: r["thumbs"] == 1),
        ("json_parse error", lambda r: r["error"] == "json_parse"),
        ("rate_limit error", lambda r: r["error"] == "rate_limit"),
        ("timeout error", lambda r: r["error"] == "timeout"),
        ("cache hit", lambda r: r["cache_hit"]),
        ("retried", lambda r: r["retried"]),
        ("abandoned", lambda r: r["abandoned"]),
        ("follow_up", lambda r: r["follow_up"]),
        ("task_completed", lambda r: r["task_completed"]),
        ("final_text present", lambda r: r["final_text"] is not None),
    ]
    segments: list[tuple[str, Callable[[Row], bool]]] = [
        ("all", lambda r: True),
        ("order_status", lambda r: r["metadata"]["intent"] == "order_status"),
        ("other intents", lambda r: r["metadata"]["intent"] != "order_status"),
    ]
    flags = {id(r): [pred(r) for _, pred in metrics] for r in rows}  # evaluate each predicate once per row
    for seg_name, seg in segments:
        rates = {}
        for arm, arm_rows in by_arm.items():
            seg_flags = [flags[id(r)] for r in arm_rows if seg(r)]
            rates[arm] = (len(seg_flags), [sum(col) / len(seg_flags) for col in zip(*seg_flags, strict=True)])
        out.append(f"  [{seg_name}] rows control {rates['control'][0]}, treatment {rates['treatment'][0]}")
        for i, (name, _) in enumerate(metrics):
            c, t = rates["control"][1][i], rates["treatment"][1][i]
            rel = f"{100 * (t / c - 1):+.0f}% rel" if c > 0 else "n/a"
            out.append(f"    {name:18s} treatment {pct(t)} vs control {pct(c)} ({rel})")
    predicates = dict(metrics)
    for name in ("thumbs-down", "json_parse error"):
        z = user_level_z(rows, indicator(predicates[name]), lambda r: str(r["variant"]))
        out.append(f"  {name} difference, user-level delta-method z = {z:.2f}")
    iccs = [f"{name} {icc_anova(by_arm['control'], indicator(predicates[name])):.3f}"
            for name in ("thumbs-down", "task_completed", "abandoned", "follow_up")]
    out.append("  ICC within users (control arm): " + ", ".join(iccs))
    for arm, arm_rows in by_arm.items():
        ok = [r for r in arm_rows if r["error"] not in ("rate_limit", "timeout")]
        lat = [r["latency_ms"] for r in ok]
        costs = [r["cost_usd"] for r in ok]
        out.append(f"  {arm:9s} latency p50 {percentile(lat, 0.5):.0f} ms, p95 {percentile(lat, 0.95):.0f} ms; "
                   f"ttft p50 {percentile([r['ttft_ms'] for r in ok], 0.5):.0f} ms; mean cost/call "
                   f"${fmean(costs):.5f}; judge_score mean "
                   f"{fmean(r['judge_score'] for r in ok if r['judge_score'] is not None):.3f} "
                   f"(scored {pct(share(ok, lambda r: r['judge_score'] is not None), 0)} of answered calls)")
    intents = Counter(r["metadata"]["intent"] for r in rows)
    out.append("  intent shares: " + ", ".join(f"{k} {pct(v / len(rows), 1)}" for k, v in sorted(intents.items())))
    styles = Counter(classify_broken(r["output"]) for r in rows if r["error"] == "json_parse")
    out.append("  json_parse outputs by style: " + ", ".join(f"{k} {v}" for k, v in sorted(styles.items())))
    return out


def classify_broken(text: str) -> str:
    if text.startswith("{"):
        return "truncated"
    return "preamble" if "{" in text else "prose"


def is_valid_json(text: str) -> bool:
    try:
        json.loads(text)
        return True
    except ValueError:
        return False


def summarize_shadow(rows: Sequence[Row]) -> list[str]:
    paired = [r for r in rows if "candidate" in r]
    out = [
        f"shadow: {len(rows)} pairs, {len({r['user_id'] for r in rows})} users, "
        f"{rows[0]['timestamp']} .. {rows[-1]['timestamp']}",
        f"  candidate missing: {len(rows) - len(paired)}; candidate timeouts: "
        f"{sum(1 for r in paired if r['candidate']['error'] == 'timeout')}",
    ]
    intents = Counter(r["metadata"]["intent"] for r in rows)
    out.append("  intent shares: " + ", ".join(f"{k} {pct(v / len(rows), 1)}" for k, v in sorted(intents.items())))
    os_rows = [r for r in paired if r["metadata"]["intent"] == "order_status"]
    for arm in ("baseline", "candidate"):
        invalid = sum(1 for r in os_rows if not is_valid_json(r[arm]["output"]))
        out.append(f"  order_status {arm} invalid JSON: {invalid}/{len(os_rows)} = {pct(invalid / len(os_rows), 1)}")
    all_invalid = sum(1 for r in paired if r["candidate"]["error"] == "json_parse")
    out.append(f"  candidate json_parse errors overall: {all_invalid}/{len(paired)} = {pct(all_invalid / len(paired))}")
    account = [r for r in paired if r["metadata"]["intent"] == "account"]
    for arm in ("baseline", "candidate"):
        n = sum(1 for r in account if r[arm]["output"] == REFUSAL)
        out.append(f"  account refusals {arm}: {n}/{len(account)} = {pct(n / len(account), 1)}")
    exact = share(paired, lambda r: r["baseline"]["output"] == r["candidate"]["output"])
    out.append(f"  exact-match rate: {pct(exact, 1)}")
    lens = [(len(r["baseline"]["output"]), len(r["candidate"]["output"])) for r in paired
            if r["candidate"]["error"] is None and r["baseline"]["output"] != REFUSAL
            and r["candidate"]["output"] != REFUSAL]
    out.append(f"  output length: baseline mean {fmean(b for b, _ in lens):.0f}, candidate mean "
               f"{fmean(c for _, c in lens):.0f} chars (ratio of means "
               f"{sum(c for _, c in lens) / sum(b for b, _ in lens):.3f}); baseline range "
               f"{min(b for b, _ in lens)}-{max(b for b, _ in lens)}")
    out.extend(summarize_judge(paired))
    for arm in ("baseline", "candidate"):
        ok = [r for r in paired if r["candidate"]["error"] != "timeout"]
        lat = [r[arm]["latency_ms"] for r in ok]
        out.append(f"  {arm:9s} latency p50 {percentile(lat, 0.5):.0f} ms, p95 {percentile(lat, 0.95):.0f} ms, "
                   f"cache hit {pct(sum(r[arm]['cache_hit'] for r in ok) / len(ok), 1)}, total cost "
                   f"${sum(r[arm]['cost_usd'] for r in ok):.2f}")
    ok = [r for r in paired if r["candidate"]["error"] != "timeout"]
    rel = sum(r["candidate"]["cost_usd"] for r in ok) / sum(r["baseline"]["cost_usd"] for r in ok) - 1
    out.append(f"  candidate cost vs baseline (same requests): {100 * rel:+.1f}%")
    return out


def logistic_fit(xs: Sequence[float], ys: Sequence[int], steps: int = 25) -> tuple[float, float]:
    """Intercept and slope of y ~ logit(a + b*x) by Newton's method: the length-controlled preference
    is sigmoid(a), the candidate's win probability when both answers are equally long (x = 0)."""
    a = b = 0.0
    for _ in range(steps):
        g0 = g1 = h00 = h01 = h11 = 0.0
        for x, y in zip(xs, ys, strict=True):
            p = sigmoid(a + b * x)
            w = p * (1 - p)
            g0, g1 = g0 + (y - p), g1 + (y - p) * x
            h00, h01, h11 = h00 + w, h01 + w * x, h11 + w * x * x
        det = h00 * h11 - h01 * h01
        a, b = a + (h11 * g0 - h01 * g1) / det, b + (h00 * g1 - h01 * g0) / det
    return a, b


def summarize_judge(paired: Sequence[Row]) -> list[str]:
    out = []
    segs: list[tuple[str, Callable[[Row], bool]]] = [
        ("all", lambda r: True),
        ("order_status", lambda r: r["metadata"]["intent"] == "order_status"),
        ("outside order_status", lambda r: r["metadata"]["intent"] != "order_status"),
    ]
    for name, seg in segs:
        verdicts = [j["winner"] for r in paired if seg(r) for j in r["judgements"]]
        c = Counter(verdicts)
        decisive = c["candidate"] + c["baseline"]
        out.append(f"  judge [{name}] verdicts {len(verdicts)}: candidate {c['candidate']}, baseline "
                   f"{c['baseline']}, tie {c['tie']}, error {c['error']}; candidate win share of decisive "
                   f"{c['candidate'] / decisive:.3f}; (wins + ties/2)/(non-error) "
                   f"{(c['candidate'] + c['tie'] / 2) / (len(verdicts) - c['error']):.3f}")
    both = [r for r in paired if all(j["winner"] != "error" for j in r["judgements"])]
    inconsistent = sum(1 for r in both if r["judgements"][0]["winner"] != r["judgements"][1]["winner"])
    first_wins = sum(1 for r in both for j in r["judgements"]
                     if (j["order"] == "baseline_first") == (j["winner"] == "baseline") and j["winner"] != "tie")
    decisive = sum(1 for r in both for j in r["judgements"] if j["winner"] != "tie")
    outside = [(math.log(len(r["candidate"]["output"]) / len(r["baseline"]["output"])), j["winner"] == "candidate")
               for r in paired if r["metadata"]["intent"] != "order_status" and r["candidate"]["output"]
               for j in r["judgements"] if j["winner"] in ("candidate", "baseline")]
    a, b = logistic_fit([x for x, _ in outside], [int(y) for _, y in outside])
    out.append(f"  judge outside order_status, decisive verdicts ~ log length ratio: length-controlled candidate "
               f"win probability {sigmoid(a):.3f} (raw {fmean(y for _, y in outside):.3f}), slope {b:.2f}")
    out.append(f"  judge order-inconsistent pairs: {inconsistent}/{len(both)} = {pct(inconsistent / len(both), 1)}; "
               f"first-position share of decisive verdicts {first_wins / decisive:.3f}")
    return out


def summarize_evals(files: dict[str, list[Row]]) -> list[str]:
    def states(rows: list[Row]) -> dict[str, str]:
        by_case: dict[str, list[bool]] = defaultdict(list)
        for r in rows:
            by_case[r["case_id"]].append(r["passed"])
        return {k: "pass" if all(v) else ("fail" if not any(v) else "flaky") for k, v in by_case.items()}

    base = states(files["baseline.jsonl"])
    out = []
    for name, rows in files.items():
        st = states(rows)
        counts = Counter(st.values())
        lost = sorted(k for k in st if base.get(k) == "pass" and st[k] == "fail")
        gained = sorted(k for k in st if base.get(k) == "fail" and st[k] == "pass")
        missing = sorted(set(base) - set(st))
        errors = [(r["case_id"], r["repeat"]) for r in rows if r["error"]]
        out.append(f"evals/{name}: {len(rows)} rows, {len(st)} cases, variant {rows[0]['variant']}; "
                   f"stable pass {counts['pass']}, stable fail {counts['fail']}, flaky {counts['flaky']}, "
                   f"pass rate {share(rows, lambda r: r['passed']):.3f}")
        if name != "baseline.jsonl":
            tags = {r["case_id"]: r["tags"] for r in files["baseline.jsonl"]}
            out.append(f"  pass->fail {len(lost)} {[(k, tags[k]) for k in lost][:16]}")
            out.append(f"  fail->pass {len(gained)} {gained}; missing {missing}; error rows {errors}")
    clusters = {r["cluster"] for r in files["baseline.jsonl"]}
    out.append(f"evals: {len(clusters)} clusters; tags seen: "
               f"{sorted({t for r in files['baseline.jsonl'] for t in r['tags']})}")
    return out


# --------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("sample_traces"),
                        help="output directory (default: sample_traces/)")
    args = parser.parse_args(argv)

    canary = generate_canary(SEEDS["canary"])
    shadow = generate_shadow(SEEDS["shadow"])
    evals = generate_evals(SEEDS["evals"])
    write_jsonl(args.out / "canary" / "traces.jsonl.gz", canary, compress=True)
    write_jsonl(args.out / "shadow" / "pairs.jsonl.gz", shadow, compress=True)
    for name, rows in evals.items():
        write_jsonl(args.out / "evals" / name, rows, compress=False)

    for line in summarize_canary(canary) + summarize_shadow(shadow) + summarize_evals(evals):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
