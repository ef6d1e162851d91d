"""English and German. Messages are keyed by their English text (gettext style), so a string
without a translation still reads in English; the test suite checks every German entry is used."""

from __future__ import annotations

from collections.abc import Callable

LANGUAGES = ("en", "de")

GERMAN: dict[str, str] = {
    "Sign in": "Anmelden",
    "Sign out": "Abmelden",
    "E-mail": "E-Mail",
    "Password": "Passwort",
    "Dashboard": "Übersicht",
    "Stations": "Ladestationen",
    "Station": "Ladestation",
    "Reservations": "Reservierungen",
    "Reservation": "Reservierung",
    "Fleet": "Flotte",
    "Vehicles": "Fahrzeuge",
    "Drivers": "Fahrer",
    "Topology": "Topologie",
    "Reports": "Berichte",
    "Tariffs": "Tarife",
    "Session fee": "Grundgebühr",
    "Per minute": "Je Minute",
    "VAT": "MwSt.",
    "Site": "Standort",
    "Group": "Gruppe",
    "Show": "Anzeigen",
    "Live power": "Aktuelle Leistung",
    "Limit": "Grenze",
    "of the limit": "der Grenze",
    "Active and planned sessions": "Aktive und geplante Ladevorgänge",
    "Plan per connector": "Plan je Ladepunkt",
    "Connector": "Ladepunkt",
    "Status": "Status",
    "Power": "Leistung",
    "Energy": "Energie",
    "Arrival": "Ankunft",
    "Departure": "Abfahrt",
    "Planned start": "Geplanter Beginn",
    "Planned finish": "Geplantes Ende",
    "Expected finish": "Voraussichtliches Ende",
    "New reservation": "Neue Reservierung",
    "Create": "Anlegen",
    "Cancel": "Stornieren",
    "Waiting list": "Warteliste",
    "Energy (kWh)": "Energie (kWh)",
    "Vehicle": "Fahrzeug",
    "optional": "optional",
    "any": "beliebig",
    "Times in": "Zeiten in",
    "Not available": "Nicht verfügbar",
    "Nothing here yet.": "Noch nichts vorhanden.",
    "Event history": "Ereignisverlauf",
    "Error code": "Fehlercode",
    "Message": "Nachricht",
    "Time": "Zeit",
    "Commands": "Befehle",
    "Soft reset": "Neustart (soft)",
    "Hard reset": "Neustart (hart)",
    "Make inoperative": "Außer Betrieb nehmen",
    "Make operative": "In Betrieb nehmen",
    "Unlock connector": "Ladepunkt entriegeln",
    "Command sent": "Befehl gesendet",
    "Connected": "Verbunden",
    "Offline": "Getrennt",
    "Firmware": "Firmware",
    "Grid limit": "Netzanschluss",
    "Circuits": "Stromkreise",
    "Capacity": "Kapazität",
    "Energy per station": "Energie je Ladestation",
    "From": "Von",
    "To": "Bis",
    "Download CSV": "CSV herunterladen",
    "Charging sessions": "Ladevorgänge",
    "Name": "Name",
    "Model": "Modell",
    "Battery": "Batterie",
    "My charging": "Mein Laden",
    "Charge now": "Jetzt laden",
    "Scan the QR code": "QR-Code scannen",
    "Scan the connector's QR code to start": "QR-Code am Ladepunkt scannen, um zu starten",
    "Take a photo of the code": "Foto vom Code aufnehmen",
    "or type the code": "oder Code eingeben",
    "Start charging": "Laden starten",
    "Distance (km)": "Strecke (km)",
    "Book": "Buchen",
    "Your reservations": "Deine Reservierungen",
    "Not enough energy by your departure": "Bis zur Abfahrt reicht die Energie nicht",
    "can be charged of": "können geladen werden von",
    "Full charge, later": "Voll laden, später",
    "Less charge, on time": "Weniger laden, pünktlich",
    "Answer by": "Antwort bis",
    "Your choice": "Deine Wahl",
    "Position on the waiting list": "Platz auf der Warteliste",
    "Join the waiting list": "Auf die Warteliste",
    "Notifications": "Benachrichtigungen",
    "Session": "Ladevorgang",
    "Back": "Zurück",
    "requested": "angefragt",
    "scheduled": "geplant",
    "waitlisted": "auf der Warteliste",
    "conflict": "Konflikt",
    "arrived": "angekommen",
    "charging": "lädt",
    "completed": "abgeschlossen",
    "cancelled": "storniert",
    "no_show": "nicht erschienen",
    "rejected": "abgelehnt",
    "expired": "abgelaufen",
    "Available": "Frei",
    "Preparing": "Vorbereitung",
    "Charging": "Lädt",
    "SuspendedEV": "Pausiert (Fahrzeug)",
    "SuspendedEVSE": "Pausiert (Station)",
    "Finishing": "Beendet",
    "Occupied": "Belegt",
    "Reserved": "Reserviert",
    "Unavailable": "Nicht verfügbar",
    "Faulted": "Störung",
    "Unknown": "Unbekannt",
    "Wrong user name or password": "Falscher Benutzername oder falsches Passwort",
    "Please sign in.": "Bitte anmelden.",
    "Maintenance log": "Wartungsprotokoll",
    "Kind": "Art",
    "Note": "Notiz",
    "Document": "Dokument",
    "Add": "Hinzufügen",
    "Edit": "Bearbeiten",
    "Save": "Speichern",
    "fault": "Störung",
    "repair": "Reparatur",
    "inspection": "Prüfung",
    "document": "Dokument",
    "Firmware update": "Firmware-Update",
    "Firmware location (URL)": "Ort der Firmware (URL)",
    "Retrieve time": "Abrufzeit",
    "empty: now": "leer: sofort",
    "Stations to update": "Zu aktualisierende Ladestationen",
    "All stations of the site": "Alle Ladestationen des Standorts",
    "The stations ticked": "Die angekreuzten Ladestationen",
    "Schedule the update": "Update planen",
    "Firmware roll-outs": "Firmware-Verteilungen",
    "Firmware roll-out": "Firmware-Verteilung",
    "Created": "Angelegt",
    "installed": "installiert",
    "in progress": "in Arbeit",
    "waiting": "wartend",
    "failed": "fehlgeschlagen",
    "Sent": "Gesendet",
    "Accepted": "Angenommen",
    "Rejected": "Abgelehnt",
    "Downloading": "Wird heruntergeladen",
    "Downloaded": "Heruntergeladen",
    "Installing": "Wird installiert",
    "Installed": "Installiert",
    "DownloadFailed": "Download fehlgeschlagen",
    "InstallationFailed": "Installation fehlgeschlagen",
    "Running sessions": "Laufende Ladevorgänge",
    "Transaction": "Transaktion",
    "Stop charging": "Laden beenden",
    "Saved": "Gespeichert",
    "New vehicle": "Neues Fahrzeug",
    "New driver": "Neuer Fahrer",
    "Make": "Hersteller",
    "Battery (kWh)": "Batterie (kWh)",
    "Consumption (kWh/100 km)": "Verbrauch (kWh/100 km)",
    "Max. AC power (kW)": "Max. AC-Leistung (kW)",
    "Phases": "Phasen",
    "Connector type": "Steckertyp",
    "Priority": "Priorität",
    "Fleet system id": "ID im Flottensystem",
    "Phone": "Telefon",
}

CATALOGS: dict[str, dict[str, str]] = {"en": {}, "de": GERMAN}


def translator(language: str) -> Callable[[str], str]:
    catalog = CATALOGS.get(language, {})

    def translate(message: str) -> str:
        return catalog.get(message, message)

    return translate


def negotiate(chosen: str | None, accept_language: str | None, default: str) -> str:
    """The `lang` cookie if the user chose one, else the first language the browser accepts
    (RFC 9110 §12.5.4, q-values respected), else the default."""
    if chosen in LANGUAGES:
        return chosen
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > 0:
            ranked.append((-quality, i, primary))
    return sorted(ranked)[0][2] if ranked else default
