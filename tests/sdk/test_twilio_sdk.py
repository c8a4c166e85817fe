"""The official `twilio` Python SDK against a running Switchboard, changing only the base URL.

Run by the Rust e2e test `sdk::the_official_python_sdk_works_unchanged`, which installs the SDK
into a virtual environment, starts the daemon and passes its address and credentials in the
environment (SWITCHBOARD_URL, SWITCHBOARD_ACCOUNT_SID, SWITCHBOARD_AUTH_TOKEN).
"""

import http.server
import json
import os
import threading
import time
import unittest
import urllib.parse
import urllib.request
from urllib.parse import urlsplit, urlunsplit

import websocket
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import ChatGrant
from twilio.request_validator import RequestValidator
from twilio.rest import Client

BASE = os.environ["SWITCHBOARD_URL"]
ACCOUNT = os.environ["SWITCHBOARD_ACCOUNT_SID"]
TOKEN = os.environ["SWITCHBOARD_AUTH_TOKEN"]
API_KEY = os.environ["SWITCHBOARD_API_KEY_SID"]
API_SECRET = os.environ["SWITCHBOARD_API_KEY_SECRET"]
PREFIX = {"flex-api": "/flex", "chat": "/chat"}


class LocalHttpClient(TwilioHttpClient):
    """https://flex-api.twilio.com/v1/X -> BASE/flex/v1/X, the only change a team makes."""

    def request(self, method, url, **kwargs):
        parts = urlsplit(url)
        if parts.hostname and parts.hostname.endswith(".twilio.com"):
            product = parts.hostname.split(".")[0]
            base = urlsplit(BASE)
            url = urlunsplit((base.scheme, base.netloc, PREFIX.get(product, "/" + product) + parts.path, parts.query, ""))
        return super().request(method, url, **kwargs)


def client():
    return Client(ACCOUNT, TOKEN, http_client=LocalHttpClient())


class FlexFlows(unittest.TestCase):
    def test_the_whole_lifecycle(self):
        c = client()
        service = c.chat.v2.services.create(friendly_name="sdk flows")
        flow = c.flex_api.v1.flex_flow.create(
            friendly_name="sdk web flow",
            chat_service_sid=service.sid,
            channel_type="web",
            integration_type="external",
            integration_url="https://example.com/hook",
            enabled=True,
        )
        self.assertTrue(flow.sid.startswith("FO"))
        self.assertEqual(flow.channel_type, "web")
        self.assertEqual(flow.integration["url"], "https://example.com/hook")
        self.assertTrue(flow.janitor_enabled)
        self.assertIsNotNone(flow.date_created, "dates parse as datetimes")
        fetched = c.flex_api.v1.flex_flow(flow.sid).fetch()
        self.assertEqual(fetched.friendly_name, "sdk web flow")
        updated = c.flex_api.v1.flex_flow(flow.sid).update(long_lived=True)
        self.assertTrue(updated.long_lived)
        names = [f.friendly_name for f in c.flex_api.v1.flex_flow.list(page_size=1)]
        self.assertIn("sdk web flow", names)
        self.assertTrue(c.flex_api.v1.flex_flow(flow.sid).delete())
        with self.assertRaises(TwilioRestException) as caught:
            c.flex_api.v1.flex_flow(flow.sid).fetch()
        self.assertEqual(caught.exception.status, 404)
        self.assertEqual(caught.exception.code, 20404)

    def test_errors_arrive_as_twilio_rest_exceptions(self):
        c = client()
        with self.assertRaises(TwilioRestException) as caught:
            c.flex_api.v1.flex_flow.create(friendly_name="x", chat_service_sid="IS" + "0" * 32, channel_type="sms", integration_type="task")
        self.assertEqual(caught.exception.status, 400)
        self.assertEqual(caught.exception.code, 20001)
        bad = Client(ACCOUNT, "not the token", http_client=LocalHttpClient())
        # (A list page that is not 200 raises the SDK's plain TwilioException, as with Twilio.)
        with self.assertRaises(TwilioRestException) as caught:
            bad.chat.v2.services("IS" + "1" * 32).fetch()
        self.assertEqual(caught.exception.status, 401)
        self.assertEqual(caught.exception.code, 20003)


class Chat(unittest.TestCase):
    def test_services_channels_members_messages(self):
        c = client()
        service = c.chat.v2.services.create(friendly_name="sdk chat")
        self.assertEqual(c.chat.v2.services(service.sid).fetch().friendly_name, "sdk chat")
        channel = c.chat.v2.services(service.sid).channels.create(friendly_name="support", unique_name="sdk-u1", type="private")
        self.assertEqual(channel.type, "private")
        by_name = c.chat.v2.services(service.sid).channels("sdk-u1").fetch()
        self.assertEqual(by_name.sid, channel.sid)
        c.chat.v2.services(service.sid).channels(channel.sid).update(attributes=json.dumps({"priority": "high"}))
        self.assertEqual(json.loads(c.chat.v2.services(service.sid).channels(channel.sid).fetch().attributes), {"priority": "high"})
        member = c.chat.v2.services(service.sid).channels(channel.sid).members.create(identity="bob")
        self.assertTrue(member.sid.startswith("MB"))
        self.assertEqual([m.identity for m in c.chat.v2.services(service.sid).channels(channel.sid).members.list()], ["bob"])
        messages = c.chat.v2.services(service.sid).channels(channel.sid).messages
        for i in range(7):
            created = messages.create(body=f"hello {i}", from_="bob")
            self.assertEqual(created.index, i)
            self.assertEqual(created._from, "bob")
        ascending = [m.index for m in messages.list(page_size=3)]
        self.assertEqual(ascending, list(range(7)), "paging past several pages")
        descending = [m.index for m in messages.list(order="desc", page_size=2)]
        self.assertEqual(descending, list(reversed(range(7))))
        self.assertEqual([m.body for m in messages.list(limit=2)], ["hello 0", "hello 1"])
        private = [ch.sid for ch in c.chat.v2.services(service.sid).channels.list(type=["private"])]
        self.assertIn(channel.sid, private)
        self.assertNotIn(channel.sid, [ch.sid for ch in c.chat.v2.services(service.sid).channels.list()], "public only by default")
        self.assertEqual(c.chat.v2.services(service.sid).channels(channel.sid).fetch().messages_count, 7)

    def test_a_channel_is_deleted_and_its_unique_name_is_free_again(self):
        c = client()
        service = c.chat.v2.services.create(friendly_name="sdk delete")
        channels = c.chat.v2.services(service.sid).channels
        channel = channels.create(friendly_name="short-lived", unique_name="sdk-del", type="private")
        channels(channel.sid).members.create(identity="bob")
        channels(channel.sid).messages.create(body="before", from_="bob")
        self.assertTrue(channels(channel.sid).delete())
        for key in (channel.sid, "sdk-del"):
            with self.assertRaises(TwilioRestException) as caught:
                channels(key).fetch()
            self.assertEqual(caught.exception.status, 404)
        with self.assertRaises(TwilioRestException) as caught:
            channels(channel.sid).delete()
        self.assertEqual(caught.exception.status, 404)
        self.assertNotIn(channel.sid, [ch.sid for ch in channels.list(type=["private", "public"])])
        self.assertEqual([uc.channel_sid for uc in c.chat.v2.services(service.sid).users("bob").user_channels.list()], [])
        again = channels.create(friendly_name="again", unique_name="sdk-del", type="private")
        self.assertNotEqual(again.sid, channel.sid)
        self.assertTrue(channels("sdk-del").delete(), "by unique name too")

    def test_invites(self):
        c = client()
        service = c.chat.v2.services.create(friendly_name="sdk invites")
        channel = c.chat.v2.services(service.sid).channels.create(friendly_name="private", type="private")
        invites = c.chat.v2.services(service.sid).channels(channel.sid).invites
        invite = invites.create(identity="bob")
        self.assertTrue(invite.sid.startswith("IN"))
        self.assertEqual(invite.identity, "bob")
        self.assertEqual([i.sid for i in invites.list(identity=["bob"])], [invite.sid])
        self.assertEqual(invites(invite.sid).fetch().identity, "bob")
        self.assertTrue(invites(invite.sid).delete())
        self.assertEqual(invites.list(), [])


class UsersAndRoles(unittest.TestCase):
    def test_users_and_their_channels(self):
        c = client()
        service = c.chat.v2.services.create(friendly_name="sdk users")
        self.assertTrue(service.default_channel_role_sid.startswith("RL"))
        svc = c.chat.v2.services(service.sid)
        user = svc.users.create(identity="sdk.alice", friendly_name="Alice", attributes=json.dumps({"a": 1}))
        self.assertTrue(user.sid.startswith("US"))
        self.assertEqual(user.role_sid, service.default_service_role_sid)
        self.assertEqual(svc.users("sdk.alice").fetch().sid, user.sid, "fetch by identity")
        self.assertEqual(svc.users(user.sid).update(friendly_name="Alice B").friendly_name, "Alice B")
        self.assertIn("sdk.alice", [u.identity for u in svc.users.list(page_size=1)])
        channel = svc.channels.create(friendly_name="sdk uc")
        member = svc.channels(channel.sid).members.create(identity="sdk.alice")
        for i in range(3):
            svc.channels(channel.sid).messages.create(body=f"m{i}", from_="sdk.bob")
        joined = svc.users(user.sid).user_channels.list()
        self.assertEqual([uc.channel_sid for uc in joined], [channel.sid])
        self.assertEqual(joined[0].member_sid, member.sid)
        self.assertEqual(joined[0].unread_messages_count, 3)
        svc.channels(channel.sid).members(member.sid).update(last_consumed_message_index=1)
        self.assertEqual(svc.users(user.sid).user_channels(channel.sid).fetch().unread_messages_count, 1)
        self.assertEqual(svc.users(user.sid).fetch().joined_channels_count, 1)
        moved = svc.users(user.sid).user_channels(channel.sid).update(last_consumed_message_index=2)
        self.assertEqual(moved.unread_messages_count, 0)
        implicit = svc.users("sdk.bob")
        with self.assertRaises(TwilioRestException) as caught:
            implicit.fetch()
        self.assertEqual(caught.exception.status, 404, "a message author is not a member, so no user")
        self.assertTrue(svc.users(user.sid).delete())
        with self.assertRaises(TwilioRestException):
            svc.users(user.sid).fetch()

    def test_roles(self):
        c = client()
        svc = c.chat.v2.services(c.chat.v2.services.create(friendly_name="sdk roles").sid)
        names = sorted(r.friendly_name for r in svc.roles.list())
        self.assertEqual(names, ["channel admin", "channel user", "service admin", "service user"])
        role = svc.roles.create(friendly_name="sdk reader", type="channel", permission=["leaveChannel", "sendMessage"])
        self.assertTrue(role.sid.startswith("RL"))
        self.assertEqual(role.type, "channel")
        self.assertEqual(role.permissions, ["leaveChannel", "sendMessage"])
        self.assertEqual(svc.roles(role.sid).update(permission=["leaveChannel"]).permissions, ["leaveChannel"])
        self.assertEqual(svc.roles(role.sid).fetch().friendly_name, "sdk reader")
        self.assertTrue(svc.roles(role.sid).delete())
        with self.assertRaises(TwilioRestException) as caught:
            svc.roles(role.sid).fetch()
        self.assertEqual(caught.exception.code, 20404)

    def test_members_and_messages_update_and_delete(self):
        c = client()
        service = c.chat.v2.services.create(friendly_name="sdk edits")
        svc = c.chat.v2.services(service.sid)
        channel = svc.channels(svc.channels.create(friendly_name="edits").sid)
        member = channel.members.create(identity="sdk.m")
        admin_role = service.default_channel_creator_role_sid
        updated = channel.members(member.sid).update(role_sid=admin_role, attributes=json.dumps({"x": 1}))
        self.assertEqual(updated.role_sid, admin_role)
        self.assertEqual(json.loads(updated.attributes), {"x": 1})
        message = channel.messages.create(body="before", from_="sdk.m")
        edited = channel.messages(message.sid).update(body="after")
        self.assertEqual(edited.body, "after")
        self.assertTrue(edited.was_edited)
        self.assertTrue(channel.messages(message.sid).delete())
        self.assertEqual(channel.messages.list(), [])
        self.assertTrue(channel.members(member.sid).delete())
        self.assertEqual(channel.members.list(), [])


class FlexChannels(unittest.TestCase):
    def test_a_custom_channel_opens_once_and_takes_the_bridge_s_messages(self):
        c = client()
        service = c.chat.v2.services.create(friendly_name="sdk flex channels")
        flow = c.flex_api.v1.flex_flow.create(
            friendly_name="sdk custom", chat_service_sid=service.sid, channel_type="custom", integration_type="task", enabled=True,
        )
        opened = dict(
            flex_flow_sid=flow.sid, identity="sdk-customer", chat_user_friendly_name="Sam", chat_friendly_name="Chat with Sam",
        )
        channel = c.flex_api.v1.channel.create(**opened, pre_engagement_data=json.dumps({"q": "x"}), task_attributes=json.dumps({"tier": "gold"}))
        self.assertTrue(channel.sid.startswith("CH"))
        self.assertTrue(channel.task_sid.startswith("WT"))
        self.assertTrue(channel.user_sid.startswith("US"))
        self.assertEqual(channel.flex_flow_sid, flow.sid)
        self.assertEqual(channel.account_sid, ACCOUNT)
        self.assertIsNotNone(channel.date_created, "dates parse as datetimes")
        self.assertEqual(c.flex_api.v1.channel.create(**opened).sid, channel.sid, "the customer's channel is found again")
        self.assertEqual(c.flex_api.v1.channel(channel.sid).fetch().task_sid, channel.task_sid)
        self.assertIn(channel.sid, [ch.sid for ch in c.flex_api.v1.channel.list(page_size=1)])
        chat = c.chat.v2.services(service.sid).channels(channel.sid)
        self.assertEqual([m.identity for m in chat.members.list()], ["sdk-customer"])
        attributes = json.loads(chat.fetch().attributes)
        self.assertEqual(attributes["pre_engagement_data"], {"q": "x"})
        message = chat.messages.create(body="typed by the customer", from_="sdk-customer")
        self.assertEqual(message._from, "sdk-customer")
        self.assertTrue(c.flex_api.v1.channel(channel.sid).delete())
        with self.assertRaises(TwilioRestException) as caught:
            c.flex_api.v1.channel(channel.sid).fetch()
        self.assertEqual((caught.exception.status, caught.exception.code), (404, 20404))
        with self.assertRaises(TwilioRestException) as caught:
            c.flex_api.v1.channel.create(**dict(opened, flex_flow_sid="FO" + "0" * 32))
        self.assertEqual((caught.exception.status, caught.exception.code), (404, 20404))

    def test_a_web_chat_opens_and_ends(self):
        c = client()
        service = c.chat.v2.services.create(friendly_name="sdk web chats")
        flow = c.flex_api.v1.flex_flow.create(
            friendly_name="sdk web chat", chat_service_sid=service.sid, channel_type="web", integration_type="task", enabled=True,
        )
        web = c.flex_api.v1.web_channel.create(
            flex_flow_sid=flow.sid, identity="sdk-guest", customer_friendly_name="Guest", chat_friendly_name="Chat",
            chat_unique_name="sdk-web-1", pre_engagement_data=json.dumps({"friendlyName": "Guest"}),
        )
        self.assertTrue(web.sid.startswith("CH"))
        self.assertEqual(web.flex_flow_sid, flow.sid)
        self.assertEqual(c.flex_api.v1.web_channel(web.sid).fetch().sid, web.sid)
        self.assertIn(web.sid, [w.sid for w in c.flex_api.v1.web_channel.list()])
        self.assertEqual(c.chat.v2.services(service.sid).channels("sdk-web-1").fetch().sid, web.sid)
        ended = c.flex_api.v1.web_channel(web.sid).update(chat_status="inactive", post_engagement_data=json.dumps({"rating": 5}))
        self.assertEqual(ended.sid, web.sid)
        attributes = json.loads(c.chat.v2.services(service.sid).channels(web.sid).fetch().attributes)
        self.assertEqual(attributes["status"], "INACTIVE")
        self.assertEqual(attributes["post_engagement_data"], {"rating": 5})
        with self.assertRaises(TwilioRestException) as caught:
            c.flex_api.v1.web_channel(web.sid).update(chat_status="active")
        self.assertEqual((caught.exception.status, caught.exception.code), (400, 20001))
        self.assertTrue(c.flex_api.v1.web_channel(web.sid).delete())
        with self.assertRaises(TwilioRestException) as caught:
            c.flex_api.v1.web_channel(web.sid).fetch()
        self.assertEqual(caught.exception.status, 404)


class Hook(http.server.BaseHTTPRequestHandler):
    received = []

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length).decode()
        Hook.received.append((self.headers.get("X-Twilio-Signature"), dict(urllib.parse.parse_qsl(body))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


class Webhooks(unittest.TestCase):
    def test_the_request_validator_accepts_what_switchboard_signs(self):
        server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
        self.addCleanup(server.server_close)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        hook_url = f"http://127.0.0.1:{server.server_address[1]}/bot"
        c = client()
        service = c.chat.v2.services.create(friendly_name="sdk hooks")
        number = "+15005550099"
        c.flex_api.v1.flex_flow.create(
            friendly_name="bot", chat_service_sid=service.sid, channel_type="sms", contact_identity=number,
            integration_type="external", integration_url=hook_url, enabled=True,
        )
        validator = RequestValidator(TOKEN)
        params = {"From": "+14155550700", "To": number, "Body": "héllo & more", "MessageSid": "SM" + "7" * 32, "NumMedia": "0"}
        inbound = f"{BASE}/webhooks/twilio"
        data = urllib.parse.urlencode(params).encode()
        request = urllib.request.Request(inbound, data=data, headers={"X-Twilio-Signature": validator.compute_signature(inbound, params)})
        with urllib.request.urlopen(request) as answer:
            self.assertEqual(answer.status, 200)
            self.assertIn(b"<Response/>", answer.read())
        deadline = time.time() + 10
        while not Hook.received and time.time() < deadline:
            time.sleep(0.05)
        server.shutdown()
        self.assertEqual(len(Hook.received), 1)
        signature, form = Hook.received[0]
        self.assertEqual(form["Body"], "héllo & more")
        self.assertTrue(validator.validate(hook_url, form, signature), "RequestValidator accepts our signature")
        self.assertFalse(validator.validate(hook_url, dict(form, Body="changed"), signature))


def minted(identity, service_sid, account=ACCOUNT, secret=API_SECRET, ttl=3600):
    """A token exactly as a team's token server mints it with the SDK."""
    token = AccessToken(account, API_KEY, secret, identity=identity, ttl=ttl)
    token.add_grant(ChatGrant(service_sid=service_sid))
    return token.to_jwt()


def ws_url():
    return BASE.replace("http://", "ws://", 1) + "/ws"


class AccessTokens(unittest.TestCase):
    def test_an_sdk_minted_token_opens_the_websocket_and_receives_the_channel(self):
        c = client()
        service = c.chat.v2.services.create(friendly_name="sdk tokens")
        channel = c.chat.v2.services(service.sid).channels.create(friendly_name="t", type="private")
        c.chat.v2.services(service.sid).channels(channel.sid).members.create(identity="sdk.agent")
        socket = websocket.create_connection(ws_url(), timeout=5)
        # The first-frame form, which keeps the token out of URLs and logs.
        socket.send(json.dumps({"type": "auth", "token": minted("sdk.agent", service.sid)}))
        ready = json.loads(socket.recv())
        self.assertEqual((ready["type"], ready["identity"], ready["version"]), ("ready", "sdk.agent", 3))
        c.chat.v2.services(service.sid).channels(channel.sid).messages.create(body="hello agent", from_="system")
        frames = []
        while not any(f.get("type") == "message_added" for f in frames):
            frames.append(json.loads(socket.recv()))
        added = [f for f in frames if f["type"] == "message_added"][0]
        self.assertEqual((added["channel_sid"], added["body"]), (channel.sid, "hello agent"))
        socket.close()

    def test_foreign_or_false_tokens_are_refused(self):
        service = client().chat.v2.services.create(friendly_name="sdk bad tokens")
        for token in [
            minted("x", service.sid, account="AC" + "9" * 32),
            minted("x", service.sid, secret="not the secret"),
            minted("x", service.sid, ttl=-60),
        ]:
            with self.assertRaises(websocket.WebSocketBadStatusException) as caught:
                websocket.create_connection(ws_url() + "?token=" + token, timeout=5)
            self.assertEqual(caught.exception.status_code, 401)


class Receiver(http.server.BaseHTTPRequestHandler):
    """Records (path, signature, form) of every POST, each server class its own list."""

    received = []

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length).decode()
        type(self).received.append((self.path, self.headers.get("X-Twilio-Signature"), dict(urllib.parse.parse_qsl(body))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


class ChannelWebhooks(unittest.TestCase):
    def test_crud_and_a_delivery_the_request_validator_accepts(self):
        handler = type("ChannelHook", (Receiver,), {"received": []})
        server = http.server.HTTPServer(("127.0.0.1", 0), handler)
        self.addCleanup(server.server_close)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.shutdown)
        hook_url = f"http://127.0.0.1:{server.server_address[1]}/replies"
        c = client()
        service = c.chat.v2.services.create(friendly_name="sdk channel webhooks")
        channel = c.chat.v2.services(service.sid).channels.create(friendly_name="custom", type="private")
        webhooks = c.chat.v2.services(service.sid).channels(channel.sid).webhooks
        created = webhooks.create(
            type="webhook",
            configuration_url=hook_url,
            configuration_method="POST",
            configuration_filters=["onMessageSent", "onMemberAdded"],
            configuration_retry_count=1,
        )
        self.assertTrue(created.sid.startswith("WH"))
        self.assertEqual(created.type, "webhook")
        self.assertEqual(created.channel_sid, channel.sid)
        self.assertEqual(created.configuration["url"], hook_url)
        self.assertEqual(created.configuration["filters"], ["onMessageSent", "onMemberAdded"])
        self.assertEqual(created.configuration["retry_count"], 1)
        self.assertIsNotNone(created.date_created, "dates parse as datetimes")
        self.assertEqual(webhooks(created.sid).fetch().sid, created.sid)
        self.assertEqual([w.sid for w in webhooks.list()], [created.sid])
        updated = webhooks(created.sid).update(configuration_filters=["onMessageSent"])
        self.assertEqual(updated.configuration["filters"], ["onMessageSent"])
        self.assertEqual(updated.configuration["method"], "POST", "what is not named stays")
        with self.assertRaises(TwilioRestException) as caught:
            webhooks.create(type="studio", configuration_flow_sid="FW" + "0" * 32)
        self.assertEqual(caught.exception.status, 400)
        self.assertEqual(caught.exception.code, 20001)
        self.assertIn("not supported", caught.exception.msg)

        c.chat.v2.services(service.sid).channels(channel.sid).members.create(identity="agent.sdk")
        c.chat.v2.services(service.sid).channels(channel.sid).messages.create(body="a reply, héllo & co", from_="agent.sdk")
        deadline = time.time() + 10
        while not handler.received and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(len(handler.received), 1, "the member is no longer in the filters")
        path, signature, form = handler.received[0]
        self.assertEqual(path, "/replies")
        self.assertEqual(form["EventType"], "onMessageSent")
        self.assertEqual(form["Body"], "a reply, héllo & co")
        self.assertEqual(form["WebhookSid"], created.sid)
        validator = RequestValidator(TOKEN)
        self.assertTrue(validator.validate(hook_url, form, signature), "RequestValidator accepts our signature")
        self.assertFalse(validator.validate(hook_url, dict(form, Body="changed"), signature))

        self.assertTrue(webhooks(created.sid).delete())
        self.assertEqual(webhooks.list(), [])
        with self.assertRaises(TwilioRestException) as caught:
            webhooks(created.sid).fetch()
        self.assertEqual(caught.exception.status, 404)


class ServiceWebhooks(unittest.TestCase):
    def test_settings_through_the_sdk_and_a_hook_the_request_validator_accepts(self):
        handler = type("ServiceHook", (Receiver,), {"received": []})
        server = http.server.HTTPServer(("127.0.0.1", 0), handler)
        self.addCleanup(server.server_close)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.shutdown)
        base = f"http://127.0.0.1:{server.server_address[1]}"
        pre_url, post_url = f"{base}/pre", f"{base}/post"
        c = client()
        service = c.chat.v2.services.create(friendly_name="sdk service webhooks")
        updated = c.chat.v2.services(service.sid).update(
            pre_webhook_url=pre_url,
            post_webhook_url=post_url,
            webhook_filters=["onMessageSent", "onMessageSend"],
            post_webhook_retry_count=1,
        )
        self.assertEqual(updated.post_webhook_url, post_url)
        fetched = c.chat.v2.services(service.sid).fetch()
        self.assertEqual(fetched.pre_webhook_url, pre_url)
        self.assertEqual(fetched.post_webhook_url, post_url)
        self.assertEqual(fetched.webhook_filters, ["onMessageSent", "onMessageSend"])
        self.assertEqual(fetched.webhook_method, "POST")
        self.assertEqual(fetched.post_webhook_retry_count, 1)
        self.assertEqual(fetched.pre_webhook_retry_count, 0)
        with self.assertRaises(TwilioRestException) as caught:
            c.chat.v2.services(service.sid).update(pre_webhook_url="not a url")
        self.assertEqual(caught.exception.status, 400)
        self.assertEqual(caught.exception.code, 50077)

        channel = c.chat.v2.services(service.sid).channels.create(friendly_name="hooked", type="private")
        messages = c.chat.v2.services(service.sid).channels(channel.sid).messages
        messages.create(body="not asked", from_="agent.sdk")
        asked = messages.create(body="asked, héllo & co", from_="agent.sdk", x_twilio_webhook_enabled="true")
        deadline = time.time() + 10
        while not handler.received and time.time() < deadline:
            time.sleep(0.05)
        # In order: the message not asked for would have come first.
        self.assertEqual(len(handler.received), 1, handler.received)
        path, signature, form = handler.received[0]
        self.assertEqual(path, "/post", "a pre-event webhook never fires for REST calls")
        self.assertEqual(form["EventType"], "onMessageSent")
        self.assertEqual(form["Body"], "asked, héllo & co")
        self.assertEqual(form["MessageSid"], asked.sid)
        self.assertEqual(form["Source"], "API")
        validator = RequestValidator(TOKEN)
        self.assertTrue(validator.validate(post_url, form, signature), "RequestValidator accepts our signature")
        self.assertFalse(validator.validate(post_url, dict(form, Body="changed"), signature))


class TaskRouter(unittest.TestCase):
    def test_a_workspace_and_its_parts(self):
        c = client()
        workspace = c.taskrouter.v1.workspaces.create(friendly_name="sdk workspace", template="FIFO")
        self.assertTrue(workspace.sid.startswith("WS"))
        self.assertEqual(workspace.default_activity_name, "Offline")
        self.assertTrue(workspace.multi_task_enabled)
        ws = c.taskrouter.v1.workspaces(workspace.sid)
        names = [a.friendly_name for a in ws.activities.list()]
        self.assertEqual(names, ["Offline", "Available", "Unavailable"])
        busy = ws.activities.create(friendly_name="Busy", available=False)
        self.assertFalse(busy.available)
        self.assertEqual(ws.activities(busy.sid).update(friendly_name="Occupied").friendly_name, "Occupied")
        chat = ws.task_channels("chat").fetch()
        self.assertEqual(chat.unique_name, "chat")
        queue = ws.task_queues.create(friendly_name="Spanish", target_workers="languages HAS 'es'")
        self.assertEqual(queue.target_workers, "languages HAS 'es'")
        self.assertEqual(queue.max_reserved_workers, 1)
        with self.assertRaises(TwilioRestException) as caught:
            ws.task_queues.create(friendly_name="Broken", target_workers="skill-level > 3")
        self.assertEqual((caught.exception.status, caught.exception.code), (400, 20001))
        configuration = json.dumps({"task_routing": {"filters": [{"filter_friendly_name": "es", "expression": "language == 'es'", "targets": [{"queue": queue.sid}]}]}})
        workflow = ws.workflows.create(friendly_name="Languages", configuration=configuration, task_reservation_timeout=30)
        self.assertEqual(json.loads(workflow.configuration), json.loads(configuration))
        self.assertEqual(ws.workflows(workflow.sid).update(friendly_name="By language").friendly_name, "By language")
        self.assertIn("By language", [w.friendly_name for w in ws.workflows.list(page_size=1)])
        updated = ws.update(friendly_name="sdk workspace renamed", timeout_activity_sid=busy.sid)
        self.assertEqual((updated.friendly_name, updated.timeout_activity_name), ("sdk workspace renamed", "Occupied"))
        with self.assertRaises(TwilioRestException) as caught:
            ws.task_queues(queue.sid).delete()
        self.assertEqual(caught.exception.status, 400, "a queue a workflow targets stays")
        self.assertTrue(ws.workflows(workflow.sid).delete())
        self.assertTrue(ws.task_queues(queue.sid).delete())
        self.assertTrue(ws.delete())
        with self.assertRaises(TwilioRestException) as caught:
            ws.fetch()
        self.assertEqual((caught.exception.status, caught.exception.code), (404, 20404))

    def test_a_task_is_reserved_accepted_and_completed(self):
        c = client()
        workspace = c.taskrouter.v1.workspaces.create(friendly_name="sdk routing", template="FIFO")
        ws = c.taskrouter.v1.workspaces(workspace.sid)
        available = [a for a in ws.activities.list() if a.friendly_name == "Available"][0]
        worker = ws.workers.create(friendly_name="sdk agent", attributes=json.dumps({"languages": ["en"]}), activity_sid=available.sid)
        self.assertTrue(worker.available)
        self.assertEqual(json.loads(worker.attributes), {"languages": ["en"]})
        chat = ws.workers(worker.sid).worker_channels("chat").update(capacity=2)
        self.assertEqual(chat.configured_capacity, 2)
        task = ws.tasks.create(attributes=json.dumps({"name": "Customer"}), task_channel="chat")
        self.assertEqual(task.assignment_status, "reserved")
        reservations = ws.tasks(task.sid).reservations.list()
        self.assertEqual([r.worker_sid for r in reservations], [worker.sid])
        accepted = ws.tasks(task.sid).reservations(reservations[0].sid).update(reservation_status="accepted")
        self.assertEqual(accepted.reservation_status, "accepted")
        self.assertEqual(ws.tasks(task.sid).fetch().assignment_status, "assigned")
        mine = ws.workers(worker.sid).reservations.list(reservation_status="accepted")
        self.assertEqual([r.sid for r in mine], [reservations[0].sid])
        with self.assertRaises(TwilioRestException) as caught:
            ws.tasks(task.sid).update(assignment_status="canceled", reason="no")
        self.assertEqual((caught.exception.status, caught.exception.code), (400, 20001))
        done = ws.tasks(task.sid).update(assignment_status="completed", reason="resolved")
        self.assertEqual(done.assignment_status, "completed")
        self.assertEqual([t.sid for t in ws.tasks.list(assignment_status=["completed"])], [task.sid])


FLOWS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "crates", "switchboard-studio", "tests", "flows")


class Studio(unittest.TestCase):
    def test_flows_revisions_validate_and_executions(self):
        c = client()
        with open(os.path.join(FLOWS, "greeting_menu.json")) as f:
            definition = json.load(f)
        flow = c.studio.v2.flows.create(friendly_name="sdk studio", status="draft", definition=definition)
        self.assertTrue(flow.sid.startswith("FW"))
        self.assertEqual((flow.revision, flow.status, flow.valid), (1, "draft", True))
        self.assertEqual(flow.definition, definition, "the definition comes back as given")
        self.assertIsNotNone(flow.date_created, "dates parse as datetimes")
        changed = json.loads(json.dumps(definition))
        changed["description"] = "changed by the sdk"
        updated = c.studio.v2.flows(flow.sid).update(status="published", definition=changed, commit_message="sdk revision")
        self.assertEqual((updated.revision, updated.status, updated.commit_message), (2, "published", "sdk revision"))
        fetched = c.studio.v2.flows(flow.sid).fetch()
        self.assertEqual((fetched.friendly_name, fetched.definition), ("sdk studio", changed))
        self.assertIn(flow.sid, [f.sid for f in c.studio.v2.flows.list(page_size=1)])
        revisions = c.studio.v2.flows(flow.sid).revisions.list()
        self.assertEqual([r.revision for r in revisions], [2, 1])
        self.assertEqual(revisions[1].definition, definition)
        latest = c.studio.v2.flows(flow.sid).revisions("LatestPublished").fetch()
        self.assertEqual(latest.revision, 2)
        valid = c.studio.v2.flow_validate.update(friendly_name="check", status="draft", definition=definition)
        self.assertTrue(valid.valid)
        broken = json.loads(json.dumps(definition))
        broken["states"][1]["properties"].pop("body")
        with self.assertRaises(TwilioRestException) as caught:
            c.studio.v2.flow_validate.update(friendly_name="check", status="draft", definition=broken)
        self.assertEqual((caught.exception.status, caught.exception.code), (400, 81022))
        self.assertIn("state 'greet': property 'body'", caught.exception.msg)
        self.assertEqual(caught.exception.details["errors"][0]["property_path"], "#/states/1/properties/body")
        self.assertEqual(list(c.studio.v2.flows(flow.sid).executions.list()), [])
        self.assertTrue(c.studio.v2.flows(flow.sid).delete())
        with self.assertRaises(TwilioRestException) as caught:
            c.studio.v2.flows(flow.sid).fetch()
        self.assertEqual((caught.exception.status, caught.exception.code), (404, 20404))


if __name__ == "__main__":
    unittest.main(verbosity=2)
