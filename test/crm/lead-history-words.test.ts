// src/crm/lead-history.ts: amoCRM's notes and events told in words for staff — each known kind by what it is, a kind
// it does not know by a generic phrase with its name, never its JSON.
import { expect } from 'chai';
import { eventText, historyEntries, noteText } from '../../src/crm/lead-history.js';

const names = { stages: new Map([[1, 'Новая заявка'], [2, 'Пауза']]), fields: new Map([[77, 'Адрес доставки']]) };
const event = (type: string, value_before: unknown[] | null = [], value_after: unknown[] | null = []) => ({ id: 'e', type, created_at: 1_800_000_000, created_by: 0, value_before, value_after });
const note = (note_type: string, params: Record<string, unknown> | null, id = 1) => ({ id, note_type, created_at: 1_800_000_000, created_by: 5, params });

describe('the lead history in words (src/crm/lead-history.ts)', () => {
  it('when events are known, then each is a short Russian phrase, with stage and field names where the shop knows them', () => {
    expect(eventText(event('lead_status_changed', [{ lead_status: { id: 1, pipeline_id: 9 } }], [{ lead_status: { id: 2, pipeline_id: 9 } }]), names)).to.equal('Этап: Новая заявка → Пауза');
    expect(eventText(event('lead_status_changed', [{ lead_status: { id: 1 } }], [{ lead_status: { id: 143 } }]), names)).to.equal('Этап: Новая заявка → этап №143');
    expect(eventText(event('custom_field_77_value_changed'), names)).to.equal('Изменено поле «Адрес доставки»');
    expect(eventText(event('custom_field_value_changed', [], [{ custom_field_value: { field_id: 77, text: 'x' } }]), names)).to.equal('Изменено поле «Адрес доставки»');
    expect(eventText(event('custom_field_78_value_changed'), names)).to.equal('Изменено поле №78');
    expect(eventText(event('incoming_call'), names)).to.equal('Входящий звонок');
    expect(eventText(event('outgoing_call'), names)).to.equal('Исходящий звонок');
    expect(eventText(event('sale_field_changed', [], [{ sale_field_value: { sale: 4500 } }]), names)).to.equal('Изменён бюджет: 4500 ₽');
    expect(eventText(event('entity_tag_added', [], [{ tag: { name: 'сайт' } }]), names)).to.equal('Добавлен тег: сайт');
  });

  it('when an event type is unknown or its values are odd, then a generic readable phrase, never JSON', () => {
    const text = eventText(event('robot_replied', null, [{ message: { id: 'x', text: '{"a":1}' } }]), names);
    expect(text).to.equal('Событие amoCRM: robot replied');
    expect(eventText(event('lead_status_changed', null, null), names)).to.equal('Этап: этап №? → этап №?');
    expect(eventText(event('"}{'), names)).to.equal('Событие amoCRM: без названия');
  });

  it('when notes are of any kind, then a common note is its text as written, and the others say what they are', () => {
    expect(noteText(note('common', { text: 'Позвонить\nзавтра' }))).to.equal('Позвонить\nзавтра');
    expect(noteText(note('call_out', { duration: 42, phone: '+7' }))).to.equal('Исходящий звонок: 42 с');
    expect(noteText(note('call_in', { duration: 0 }))).to.equal('Входящий звонок');
    expect(noteText(note('amomail_message', { income: true, subject: 'Вопрос о доставке' }))).to.equal('Входящее письмо: Вопрос о доставке');
    expect(noteText(note('amomail_message', { income: false }))).to.equal('Исходящее письмо');
    expect(noteText(note('sms_in', { text: 'Спасибо!' }))).to.equal('Входящее SMS: Спасибо!');
    expect(noteText(note('zoom_meeting', null))).to.equal('Примечание');
  });

  it('when an event only repeats a listed note, then it is left out; authors by id; newest first; cut to the maximum', () => {
    const entries = historyEntries(
      [{ ...note('common', { text: 'Текст' }, 10), created_at: 100 }],
      [{ ...event('common_note_added', [], [{ note: { id: 10 } }]), created_at: 100 }, { ...event('lead_added'), created_at: 50 }, { ...event('common_note_added', [], [{ note: { id: 11 } }]), created_at: 120 }],
      { ...names, users: new Map([[5, 'Менеджер']]) }, 2);
    expect(entries).to.deep.equal([
      { kind: 'event', at: new Date(120_000), text: 'Добавлено примечание' },
      { kind: 'note', at: new Date(100_000), author: 'Менеджер', text: 'Текст' },
    ]);
  });
});
