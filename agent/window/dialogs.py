"""The sign-in and code dialogs: fields, busy and error states, the Resend countdown (Tk thread only)."""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from tkinter import ttk

from agent.window.look import Look


class SignInView(ttk.Frame):
    """Server address, username and password; Enter submits; busy and error states."""

    def __init__(self, parent: tk.Misc, look: Look, server_url: str,
                 on_submit: Callable[[str, str, str], None],
                 on_forgot: Callable[[str, str], None] | None = None) -> None:
        super().__init__(parent, padding=look.px(24))
        self.look = look
        self.on_submit = on_submit
        self.on_forgot = on_forgot
        self.server = tk.StringVar(value=server_url)
        self.username = tk.StringVar()
        self.password = tk.StringVar()
        self.message = tk.StringVar()
        self.busy = False
        gap = look.px(4)
        ttk.Label(self, text="Sign in to Vinova", style="Title.TLabel").grid(row=0, column=0, columnspan=2,
                                                                          sticky="w")
        ttk.Label(
            self, style="Muted.TLabel", wraplength=look.px(300), justify="left",
            text="Vinova records your activity and screenshots while you work. "
                 "Its window always shows what it records and sends.",
        ).grid(row=1, column=0, columnspan=2, sticky="w", pady=(gap, look.px(14)))
        self.entries: list[ttk.Entry] = []
        for row, (label, variable, secret) in enumerate(
            (("Server address", self.server, False), ("Username", self.username, False),
             ("Password", self.password, True)),
        ):
            ttk.Label(self, text=label).grid(row=2 + 2 * row, column=0, columnspan=2, sticky="w")
            entry = ttk.Entry(self, textvariable=variable, width=36, show="•" if secret else "")
            entry.grid(row=3 + 2 * row, column=0, columnspan=2, sticky="ew", pady=(look.px(2), look.px(8)))
            entry.bind("<Return>", lambda _event: self.submit())
            entry.bind("<KP_Enter>", lambda _event: self.submit())
            self.entries.append(entry)
        self.server_entry, self.username_entry, self.password_entry = self.entries
        self.message_label = ttk.Label(self, textvariable=self.message, style="Error.TLabel",
                                       wraplength=look.px(300), justify="left")
        self.message_label.grid(row=8, column=0, columnspan=2, sticky="w", pady=(0, look.px(8)))
        self.progress = ttk.Progressbar(self, mode="indeterminate", length=look.px(120))
        self.progress.grid(row=9, column=0, sticky="w")
        self.progress.grid_remove()
        self.button = ttk.Button(self, text="Sign in", style="Accent.TButton", command=self.submit)
        self.button.grid(row=9, column=1, sticky="e")
        # Mails a reset link (POST /auth/password-reset) for the username typed above.
        self.forgot_button = ttk.Button(self, text="Forgot password?", command=self.forgot)
        if on_forgot is not None:
            self.forgot_button.grid(row=10, column=0, columnspan=2, sticky="w", pady=(look.px(10), 0))
        self.columnconfigure(0, weight=1)
        select_all_in_entries(self)

    def reset(self, message: str | None = None) -> None:
        """Back to a fresh dialog, keeping the server and username (and showing ``message``)."""
        self.set_busy(False)
        self.password.set("")
        self.show_message(message or "")

    def focus_first(self) -> None:
        """Put the cursor where typing should start."""
        target = self.username_entry if self.server.get() and not self.username.get() else (
            self.password_entry if self.username.get() else self.server_entry)
        target.focus_set()

    def clear_password(self) -> None:
        """Forget the typed password once it has been used."""
        self.password.set("")

    def show_error(self, text: str) -> None:
        """A problem in plain words, in red."""
        self.message_label.configure(style="Error.TLabel")
        self.message.set(text)

    def show_message(self, text: str) -> None:
        """Information (not an error)."""
        self.message_label.configure(style="Muted.TLabel")
        self.message.set(text)

    def set_busy(self, busy: bool, text: str | None = None) -> None:
        """While waiting for the server: inputs disabled, a moving bar, the button says what happens."""
        self.busy = busy
        state = "disabled" if busy else "normal"
        for entry in self.entries:
            entry.configure(state=state)
        self.forgot_button.configure(state=state)
        self.button.configure(state=state, text=text if busy and text else "Sign in")
        if busy:
            self.show_message("")
            self.progress.grid()
            self.progress.start(15)
        else:
            self.progress.stop()
            self.progress.grid_remove()

    def forgot(self) -> None:
        """Check the server address and username, then ask the app to mail a reset link."""
        if self.busy or self.on_forgot is None:
            return
        server, username = self.server.get().strip(), self.username.get().strip()
        if not server.startswith(("http://", "https://")):
            self.show_error("The server address starts with http:// or https://.")
            return
        if not username:
            self.show_error("Type your username first, then press Forgot password? again.")
            self.username_entry.focus_set()
            return
        self.on_forgot(server, username)

    def submit(self) -> None:
        """Check the fields, then hand them to the app."""
        if self.busy:
            return
        server, username = self.server.get().strip(), self.username.get().strip()
        password = self.password.get()
        if not server.startswith(("http://", "https://")):
            self.show_error("The server address starts with http:// or https://.")
            return
        if not username or not password:
            self.show_error("Type your username and password.")
            return
        self.on_submit(server, username, password)


class CodeView(ttk.Frame):
    """The emailed 6-digit code: Verify, Resend (with a countdown), Back."""

    def __init__(self, parent: tk.Misc, look: Look, on_verify: Callable[[str], None],
                 on_resend: Callable[[], None], on_back: Callable[[], None]) -> None:
        super().__init__(parent, padding=look.px(24))
        self.on_verify = on_verify
        self.on_resend = on_resend
        self.code = tk.StringVar()
        self.sent_text = tk.StringVar()
        self.message = tk.StringVar()
        self.busy = False
        self.resend_allowed_at = 0.0
        self._seconds_left = 0
        self.method = "email"  # or "totp": the code of an authenticator app, nothing to resend
        self.title_label = ttk.Label(self, text="Check your email", style="Title.TLabel")
        self.title_label.grid(row=0, column=0, columnspan=3, sticky="w")
        ttk.Label(self, textvariable=self.sent_text, style="Muted.TLabel", wraplength=look.px(300),
                  justify="left").grid(row=1, column=0, columnspan=3, sticky="w",
                                       pady=(look.px(4), look.px(14)))
        ttk.Label(self, text="Code").grid(row=2, column=0, columnspan=3, sticky="w")
        self.entry = ttk.Entry(self, textvariable=self.code, width=10, font="VinovaCode", style="Code.TEntry",
                               justify="center")
        # Keep only digits (a pasted "123 456" or "123-456" still works), at most six.
        self.code.trace_add("write", lambda *_args: self._keep_digits())
        self.entry.grid(row=3, column=0, columnspan=3, sticky="w", pady=(look.px(2), look.px(8)))
        self.entry.bind("<Return>", lambda _event: self.submit())
        self.entry.bind("<KP_Enter>", lambda _event: self.submit())
        self.message_label = ttk.Label(self, textvariable=self.message, style="Error.TLabel",
                                       wraplength=look.px(300), justify="left")
        self.message_label.grid(row=4, column=0, columnspan=3, sticky="w", pady=(0, look.px(8)))
        self.back_button = ttk.Button(self, text="Back", command=on_back)
        self.back_button.grid(row=5, column=0, sticky="w")
        self.resend_button = ttk.Button(self, text="Resend", command=self._resend)
        self.resend_button.grid(row=5, column=1, sticky="e", padx=(0, look.px(6)))
        self.verify_button = ttk.Button(self, text="Verify", style="Accent.TButton", command=self.submit)
        self.verify_button.grid(row=5, column=2, sticky="e")
        self.columnconfigure(0, weight=1)

    def start(self, username: str, sent_to: str, resend_allowed_at: float, method: str = "email") -> None:
        """A fresh code dialog for a code just sent to ``sent_to`` (or awaited from the app: ``totp``)."""
        self.code.set("")
        self.message.set("")
        self.method = method
        if method == "totp":
            self.title_label.configure(text="Open your authenticator app")
            self.sent_text.set(f"Enter the 6-digit code from your authenticator app to finish signing in "
                               f"as {username}. Lost your phone? Type one of your recovery codes.")
            self.resend_button.grid_remove()
        else:
            self.title_label.configure(text="Check your email")
            self.sent_text.set(f"We sent a 6-digit code to {sent_to}. Type it here to finish signing in "
                               f"as {username}.")
            self.resend_button.grid()
        self.set_busy(False)
        self.resend_allowed_at = resend_allowed_at
        self._seconds_left = -1

    def resent(self, sent_to: str | None, resend_allowed_at: float) -> None:
        """A new code went out (or the server asked us to wait): restart the countdown."""
        if sent_to is not None:
            self.code.set("")
            self.message_label.configure(style="Muted.TLabel")
            self.message.set(f"A new code is on its way to {sent_to}. The old one no longer works.")
        self.resend_allowed_at = resend_allowed_at
        self._seconds_left = -1

    def update_countdown(self, now: float) -> None:
        """Once a second: Resend stays disabled, showing the seconds left, until it is allowed."""
        left = max(0, int(self.resend_allowed_at - now + 0.999))
        if left == self._seconds_left:
            return
        self._seconds_left = left
        if self.busy:
            return
        if left:
            self.resend_button.configure(state="disabled", text=f"Resend ({left} s)")
        else:
            self.resend_button.configure(state="normal", text="Resend")

    def focus_code(self) -> None:
        """Put the cursor in the code field."""
        self.entry.focus_set()

    def show_error(self, text: str) -> None:
        """A problem in plain words, in red."""
        self.message_label.configure(style="Error.TLabel")
        self.message.set(text)

    def set_busy(self, busy: bool, text: str | None = None) -> None:
        """While waiting for the server: nothing can be pressed twice."""
        self.busy = busy
        state = "disabled" if busy else "normal"
        self.entry.configure(state=state)
        self.verify_button.configure(state=state, text=text if busy and text else "Verify")
        self.back_button.configure(state=state)
        if busy:
            self.resend_button.configure(state="disabled")
            self.message.set("")
        else:
            self._seconds_left = -1  # let the countdown redraw the Resend button

    def _keep_digits(self) -> None:
        text = self.code.get()
        if self.method == "totp" and any(character.isalpha() for character in text):  # a recovery code
            kept = "".join(character for character in text.lower() if character.isalnum() or character == "-")
            kept = kept[:11]
        else:
            kept = "".join(character for character in text if character.isdigit())[:6]
        if kept != text:
            self.code.set(kept)

    def _resend(self) -> None:
        if not self.busy:
            self.on_resend()

    def submit(self) -> None:
        """Check there are 6 digits, then hand them to the app."""
        if self.busy:
            return
        code = self.code.get().strip()
        if self.method == "totp" and len(code.replace("-", "")) == 10:  # a recovery code (abcde-fghjk)
            self.on_verify(code)
            return
        if len(code) != 6:
            source = "your authenticator app" if self.method == "totp" else "the email"
            self.show_error(f"Type the 6 digits from {source}.")
            return
        self.on_verify(code)



def select_all_in_entries(widget: tk.Misc) -> None:
    """Ctrl+A selects the whole field in every entry of the app (Tk's X11 default moves to the start)."""

    def select_all(event: tk.Event[tk.Misc]) -> str:
        entry = event.widget
        if isinstance(entry, tk.Entry | ttk.Entry):
            entry.selection_range(0, "end")
            entry.icursor("end")
        return "break"

    for class_name in ("TEntry", "Entry"):
        for sequence in ("<Control-a>", "<Control-A>"):
            widget.bind_class(class_name, sequence, select_all)


class MessageDialog(tk.Toplevel):
    """A small window with a title, a message and buttons; a button's action runs after it closes."""

    def __init__(self, parent: tk.Misc, look: Look, title: str, message: str,
                 buttons: tuple[tuple[str, Callable[[], None]], ...]) -> None:
        super().__init__(parent, background=look_background(parent), padx=look.px(20), pady=look.px(16))
        self.title(f"Vinova — {title}")
        self.resizable(False, False)
        self.protocol("WM_DELETE_WINDOW", self.destroy)
        ttk.Label(self, text=title, style="Title.TLabel").grid(row=0, column=0, columnspan=len(buttons),
                                                              sticky="w")
        ttk.Label(self, text=message, wraplength=look.px(340), justify="left").grid(
            row=1, column=0, columnspan=len(buttons), sticky="w", pady=(look.px(6), look.px(14)))
        self.buttons: dict[str, ttk.Button] = {}
        for column, (text, action) in enumerate(buttons):
            style = "Accent.TButton" if column == len(buttons) - 1 else "TButton"
            button = ttk.Button(self, text=text, style=style, command=self._then(action))
            button.grid(row=2, column=column, sticky="e", padx=(look.px(6) if column else 0, 0))
            self.buttons[text] = button
        self.columnconfigure(0, weight=1)
        self.bind("<Escape>", lambda _event: self.destroy())
        last = self.buttons[buttons[-1][0]]
        self.bind("<Return>", lambda _event: last.invoke())
        self.update_idletasks()
        width, height = self.winfo_reqwidth(), self.winfo_reqheight()
        x = max(0, (self.winfo_screenwidth() - width) // 2)
        y = max(0, (self.winfo_screenheight() - height) // 3)
        self.geometry(f"+{x}+{y}")
        self.lift()
        last.focus_set()

    def _then(self, action: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            self.destroy()
            action()

        return run


def look_background(widget: tk.Misc) -> str:
    """The window's background colour (the ttk theme's), for a plain Tk toplevel."""
    return str(ttk.Style(widget).lookup(".", "background") or "#f3f4f6")
